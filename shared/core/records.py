"""Pure transitions of a JobRecord and the event each announces. No I/O: the store applies
them atomically in Redis."""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chorus.contract.events import EventKind
from chorus.contract.models import (
    Budget,
    JobRecord,
    JobRequest,
    JobStatus,
    Plan,
    SubtaskResult,
    SubtaskStatus,
    Usage,
)
from chorus.core import announcements, rerun, review
from chorus.errors import InvalidTransition

MISSING_RESULT_ERROR = "no result was recorded for this subtask"


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_record(
    request: JobRequest,
    job_id: str,
    *,
    orchestrator_model: str,
    worker_model: str,
    simulated: bool,
    now: datetime,
) -> JobRecord:
    return JobRecord(
        job_id=job_id,
        status=JobStatus.PLANNING,
        request=request.model_copy(update={"job_id": job_id}),
        created_at=now,
        updated_at=now,
        orchestrator_model=orchestrator_model,
        worker_model=worker_model,
        simulated=simulated,
        prompt_hashes=prompt_hashes(request),
    )


def prompt_hashes(request: JobRequest) -> dict[str, str]:
    """sha256 of each template the job runs with (its own or its profile's), so a record can
    be traced to the instructions behind it."""
    prompts = request.options.prompts
    if prompts is None:
        return {}
    texts = {"orchestrator": prompts.orchestrator, "worker": prompts.worker,
             "synthesis": prompts.synthesis}  # fmt: skip
    return {kind: hashlib.sha256(t.encode()).hexdigest() for kind, t in texts.items() if t}


def with_plan(record: JobRecord, plan: Plan, planning_usage: Usage, now: datetime) -> JobRecord:
    """Running with its plan; `planning_usage` is what this planning attempt spent, added to
    what earlier attempts kept on the record."""
    if record.status is not JobStatus.PLANNING:
        raise InvalidTransition(f"cannot store a plan on a {record.status.value} job")
    spent = with_planning_spend(record, planning_usage, now)
    return spent.model_copy(update={"status": JobStatus.RUNNING, "plan": plan})


def with_planning_spend(record: JobRecord, spent: Usage, now: datetime) -> JobRecord:
    """Still planning, with what a planning attempt that will be retried has already paid for
    (a rejected plan before a failed repair call): kept, so no paid call drops off the record.
    The budget ledger counts it once, when the job leaves planning (`planning_spend`)."""
    if record.status is not JobStatus.PLANNING:
        raise InvalidTransition(f"cannot add planning spend to a {record.status.value} job")
    usage = record.planning_usage + spent
    return record.model_copy(update={"planning_usage": usage, "usage": usage, "updated_at": now})


def with_cancelled_planning_spend(
    record: JobRecord, spent: Usage, seen: Usage, now: datetime
) -> JobRecord:
    """A job cancelled while its planning call was out, with that call's cost on the record:
    it was paid for. `seen` is the planning usage the failed plan transition read; a record
    whose usage has moved on already holds this spend (a retried write), so it is not added
    twice."""
    if record.status is not JobStatus.CANCELLED or record.plan is not None:
        raise InvalidTransition(
            f"no cancelled planning to add spend to on a {record.status.value} job"
        )
    if record.planning_usage != seen:
        raise InvalidTransition("this planning attempt's spend is on the record already")
    usage = record.planning_usage + spent
    return record.model_copy(
        update={"planning_usage": usage, "usage": record.usage + spent, "updated_at": now}
    )


CANCELLED_ERROR = "cancelled by request"


def with_cancellation(record: JobRecord, now: datetime) -> JobRecord:
    if record.status.is_final:
        raise InvalidTransition(f"job is already {record.status.value}")
    return record.model_copy(
        update={
            "status": JobStatus.CANCELLED,
            "error": CANCELLED_ERROR,
            "updated_at": now,
            "finished_at": now,
        }
    )


def awaits_results(record: JobRecord) -> bool:
    """Running, or cancelled after planning with its subtasks' outcomes not yet attached."""
    if record.plan is None or record.results or review.never_ran(record):
        return False
    return record.status in (JobStatus.RUNNING, JobStatus.CANCELLED)


def owned_subtasks(record: JobRecord) -> list[int] | None:
    """The subtask indices whose results the job still takes (None: it takes none)."""
    if not awaits_results(record) or record.plan is None:
        return None
    return [s.index for s in record.plan.subtasks]


def subtask_refusal(
    job_id: str, index: int, record: JobRecord | None, owned: list[int] | None
) -> str | None:
    """Why a worker must not run subtask `index` of `job_id` (None: it may). `owned` is
    `owned_subtasks` of the record, read cheaply; the record itself only explains a refusal."""
    if owned is not None:
        return None if index in owned else f"job {job_id!r} has no subtask {index}"
    if record is None:
        return f"no job {job_id!r}"
    return f"job {job_id!r} is {record.status.value} and takes no subtask results"


def with_failure(
    record: JobRecord, reason: str, now: datetime, planning_usage: Usage | None = None
) -> JobRecord:
    """Failed; `planning_usage` (what this planning attempt spent) adds to what the record
    kept."""
    if record.status.is_final:
        raise InvalidTransition(f"job is already {record.status.value}")
    usage = record.planning_usage + (planning_usage or Usage())
    return record.model_copy(
        update={
            "status": JobStatus.FAILED,
            "error": reason,
            "planning_usage": usage,
            "usage": usage,
            "updated_at": now,
            "finished_at": now,
        }
    )


def planning_spend(before: JobRecord, after: JobRecord) -> Usage | None:
    """The planning calls' usage a change brings onto the job's spend ledger: once, when the
    job leaves `planning` (with a plan or failed), so a redelivered plan step cannot count it
    twice."""
    if before.status is JobStatus.CANCELLED and after.planning_usage != before.planning_usage:
        return _difference(after.planning_usage, before.planning_usage)  # paid after cancel
    if before.status is not JobStatus.PLANNING or after.status is JobStatus.PLANNING:
        return None
    return after.planning_usage if after.planning_usage.total_tokens else None


def _difference(after: Usage, before: Usage) -> Usage:
    return Usage(
        input_tokens=after.input_tokens - before.input_tokens,
        output_tokens=after.output_tokens - before.output_tokens,
        cache_creation_input_tokens=after.cache_creation_input_tokens
        - before.cache_creation_input_tokens,
        cache_read_input_tokens=after.cache_read_input_tokens - before.cache_read_input_tokens,
        cache_write_1h_input_tokens=after.cache_write_1h_input_tokens
        - before.cache_write_1h_input_tokens,
        cost_usd=max(0.0, after.cost_usd - before.cost_usd),
        cache_saving_usd=after.cache_saving_usd - before.cache_saving_usd,
    )


def budget_of(record: JobRecord) -> Budget:
    if record.runs and record.runs[-1].budget is not None:
        return record.runs[-1].budget  # a retry's limits (`rerun.retry_budget`)
    options = record.request.options
    deadline = None
    if options.deadline_s is not None:
        deadline = record.created_at + timedelta(seconds=options.deadline_s)
    return Budget(
        max_total_tokens=options.max_total_tokens,
        max_cost_usd=options.max_cost_usd,
        deadline_at=deadline,
    )


def final_status(results: list[SubtaskResult]) -> JobStatus:
    succeeded = sum(1 for r in results if r.status is SubtaskStatus.SUCCEEDED)
    if results and succeeded == len(results):
        return JobStatus.SUCCEEDED
    if succeeded == 0:
        return JobStatus.FAILED
    return JobStatus.PARTIAL


def missing_indices(record: JobRecord, stored: Mapping[int, SubtaskResult]) -> list[int]:
    planned = record.plan.subtasks if record.plan else []
    return [s.index for s in planned if s.index not in stored]


@dataclass(frozen=True)
class Synthesis:
    text: str | None
    usage: Usage
    error: str | None = None
    data: Any = None


def finalized(
    record: JobRecord,
    stored: Mapping[int, SubtaskResult],
    now: datetime,
    synthesis: Synthesis | None = None,
    missing_error: str = MISSING_RESULT_ERROR,
) -> JobRecord:
    """The final record: results in plan order; a subtask with no stored result is failed,
    with `missing_error` as its error."""
    if not awaits_results(record) or record.plan is None:
        raise InvalidTransition(f"cannot finalise a {record.status.value} job")
    results = [
        stored.get(s.index)
        or SubtaskResult(
            index=s.index,
            type=s.type,
            description=s.description,
            status=SubtaskStatus.FAILED,
            error=missing_error,
            attempts=0,
            finished_at=now,
        )
        for s in record.plan.subtasks
    ]
    status = final_status(results)
    extra = synthesis.usage if synthesis else Usage()
    spent = record.planning_usage + extra + rerun.earlier_synthesis_usage(record)
    usage = sum((r.usage for r in [*results, *record.earlier_results]), spent)
    error = None
    stopped = sorted({r.error or "" for r in results if r.status is SubtaskStatus.SKIPPED})
    if stopped:
        # The reason a job was cut short matters more than the count of what failed.
        error = "; ".join(stopped)
    elif status is JobStatus.FAILED:
        error = "every subtask failed; see each subtask's error"
    if record.status is JobStatus.CANCELLED:
        # The outcomes are attached for the record; the job stays cancelled.
        status, error = JobStatus.CANCELLED, record.error
        now = record.finished_at or now
    return record.model_copy(
        update={
            "status": status,
            "results": results,
            "usage": usage,
            "error": error,
            "synthesis": synthesis.text if synthesis else None,
            "synthesis_data": synthesis.data if synthesis else None,
            "synthesis_error": synthesis.error if synthesis else None,
            "synthesis_usage": extra,
            "runs": rerun.closed_runs(record, status, now, extra),
            "updated_at": now,
            "finished_at": now,
        }
    )


def transition_event(
    before: JobRecord, after: JobRecord
) -> tuple[EventKind, dict[str, Any]] | None:
    """The event a record change announces, if any. The job store writes it in the same
    transaction as the change, so a job never changes state unannounced or twice."""
    if before.status is JobStatus.PLANNING and after.status is JobStatus.RUNNING:
        return EventKind.PLANNED, announcements.planned(after)
    if before.status.is_final and after.status is JobStatus.RUNNING:
        return EventKind.RETRIED, rerun.retried(after)
    if (reviewed := review.review_event(before, after)) is not None:
        return reviewed
    if not before.status.is_final and after.status.is_final:
        kind = (
            EventKind.CANCELLED if after.status is JobStatus.CANCELLED else EventKind.JOB_FINISHED
        )
        return kind, announcements.job_ended(after)
    return None
