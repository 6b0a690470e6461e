"""Retrying what failed: the pure transition a final job takes to run again (`with_retry`),
and the limits a retry runs under. No I/O: the job store applies it atomically, with its
effects (`chorus.store.transitions`), so a retry either happens whole or not at all.

A retry keeps the stored plan and the succeeded results as they are (their calls are neither
made nor charged again); the failed and skipped results move to `earlier_results`, each still
naming the run that produced it, and the job runs those subtasks as a new run."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chorus.contract import limits
from chorus.contract.actions import RetryOptions
from chorus.contract.models import (
    Budget,
    JobRecord,
    JobRun,
    JobStatus,
    SubtaskResult,
    SubtaskStatus,
    Usage,
)
from chorus.core import review
from chorus.errors import InvalidTransition


def current_run(record: JobRecord) -> int:
    """The run a job is on: 1 until a retry adds one."""
    return record.runs[-1].run if record.runs else 1


def run_with_key(record: JobRecord, key: str | None) -> JobRun | None:
    """The run a retry with this Idempotency-Key started, if one did."""
    if not key:
        return None
    return next((run for run in record.runs if run.idempotency_key == key), None)


def retry_refusal(record: JobRecord) -> str | None:
    """Why this job cannot be retried now (None: it can), in words for the caller."""
    if not record.status.is_final:
        return f"job is {record.status.value}; only a final job can be retried"
    if record.plan is None:
        return f"the job {record.status.value} before it had a plan; submit it again"
    if review.never_ran(record):
        return "the job's plan never ran (rejected, or not reviewed in time); submit it again"
    if not record.results:
        return "the job's subtask outcomes are not recorded yet; try again shortly"
    if not _to_rerun(record.results):
        return "nothing to retry: every subtask succeeded"
    if len(record.runs) >= limits.MAX_JOB_RUNS:
        return f"the job has run {len(record.runs)} times, the most a job may"
    return None


def _to_rerun(results: list[SubtaskResult]) -> list[SubtaskResult]:
    return [r for r in results if r.status in (SubtaskStatus.FAILED, SubtaskStatus.SKIPPED)]


def with_retry(
    record: JobRecord, now: datetime, options: RetryOptions | None = None, key: str | None = None
) -> JobRecord:
    """The job running again for its failed and skipped subtasks, as run n+1. Raises
    InvalidTransition with the reason when it cannot be retried, and when a retry with this
    `key` already happened (the caller answers with that run: see `run_with_key`)."""
    if run_with_key(record, key) is not None:
        raise InvalidTransition("a retry with this Idempotency-Key has already started")
    refusal = retry_refusal(record)
    if refusal is not None:
        raise InvalidTransition(refusal)
    rerun = _to_rerun(record.results)
    runs = list(record.runs) or [_first_run(record)]
    runs.append(
        JobRun(
            run=runs[-1].run + 1,
            started_at=now,
            subtasks=[r.index for r in rerun],
            budget=retry_budget(record, now, options or RetryOptions()),
            idempotency_key=key or None,
        )
    )
    return record.model_copy(
        update={
            "status": JobStatus.RUNNING,
            "results": [],
            "earlier_results": [*record.earlier_results, *rerun],
            "runs": runs,
            "error": None,
            "finished_at": None,
            "updated_at": now,
        }
    )


def _first_run(record: JobRecord) -> JobRun:
    """Run 1, written down when the first retry needs it beside its own."""
    subtasks = [s.index for s in record.plan.subtasks] if record.plan else []
    return JobRun(
        run=1,
        started_at=record.created_at,
        finished_at=record.finished_at,
        status=record.status,
        subtasks=subtasks,
        synthesis_usage=record.synthesis_usage,
    )


def retry_budget(record: JobRecord, now: datetime, options: RetryOptions) -> Budget:
    """The limits a retry runs under: each one the retry gives, else the job's own. Token and
    dollar limits cover the job's whole spend (every run's); the deadline runs from the
    retry's start, since the job's own has usually passed by then."""
    job = record.request.options
    tokens = options.max_total_tokens or job.max_total_tokens
    dollars = options.max_cost_usd or job.max_cost_usd
    seconds = options.deadline_s or job.deadline_s
    deadline = now + timedelta(seconds=seconds) if seconds is not None else None
    return Budget(max_total_tokens=tokens, max_cost_usd=dollars, deadline_at=deadline)


def earlier_synthesis_usage(record: JobRecord) -> Usage:
    """What the synthesis calls of runs before the current one cost: still the job's spend
    when a retry's synthesis replaces their answer."""
    return sum((run.synthesis_usage for run in record.runs[:-1]), Usage())


def closed_runs(
    record: JobRecord, status: JobStatus, now: datetime, synthesis_usage: Usage
) -> list[JobRun]:
    """The runs with the current one ended (`status`, `now`); none for a job never retried."""
    if not record.runs:
        return []
    ended = record.runs[-1].model_copy(
        update={"finished_at": now, "status": status, "synthesis_usage": synthesis_usage}
    )
    return [*record.runs[:-1], ended]


def retried(record: JobRecord) -> dict[str, Any]:
    """What the `retried` event says: the run now going and the subtasks it runs again."""
    run = record.runs[-1] if record.runs else None
    return {"run": current_run(record), "subtasks": list(run.subtasks) if run else []}
