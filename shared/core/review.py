"""Plan review (options.review_plan): pure transitions of a JobRecord through
`awaiting_review`. No I/O: the store applies them atomically, with their event
(`records.transition_event`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from chorus.contract.events import EventKind
from chorus.contract.lifecycle import ReviewDecision
from chorus.contract.models import JobRecord, JobStatus, Plan, Usage
from chorus.core import announcements
from chorus.errors import InvalidTransition

Decision = Literal["approved", "edited", "rejected", "timed_out"]
REJECTED_ERROR = "plan rejected"


def with_plan_for_review(
    record: JobRecord, plan: Plan, planning_usage: Usage, now: datetime
) -> JobRecord:
    """Awaiting review with its plan; like `records.with_plan`, `planning_usage` adds to what
    earlier planning attempts kept (the ledger counts it once, as the job leaves planning)."""
    if record.status is not JobStatus.PLANNING:
        raise InvalidTransition(f"cannot store a plan on a {record.status.value} job")
    usage = record.planning_usage + planning_usage
    return record.model_copy(
        update={
            "status": JobStatus.AWAITING_REVIEW,
            "plan": plan,
            "planning_usage": usage,
            "usage": usage,
            "updated_at": now,
            "review_requested_at": now,
        }
    )


def with_review(
    record: JobRecord,
    decision: Decision,
    now: datetime,
    *,
    plan: Plan | None = None,
    reason: str | None = None,
) -> JobRecord:
    """The reviewer's answer: approved (the stored plan) or edited (`plan`) → running;
    rejected → cancelled; timed_out (`reason` says why) → failed."""
    if record.status is not JobStatus.AWAITING_REVIEW:
        raise InvalidTransition(f"job is {record.status.value}, not awaiting review")
    update: dict[str, Any] = {
        "review": ReviewDecision(decision=decision, at=now, reason=reason),
        "updated_at": now,
    }
    if decision == "approved" or decision == "edited":
        if (plan is None) != (decision == "approved"):
            raise ValueError("an edited review carries its plan; an approval does not")
        update.update(status=JobStatus.RUNNING, plan=plan or record.plan)
    elif decision == "rejected":
        error = f"{REJECTED_ERROR}: {reason}" if reason else REJECTED_ERROR
        update.update(status=JobStatus.CANCELLED, error=error, finished_at=now)
    else:
        update.update(status=JobStatus.FAILED, error=reason or "review timed out", finished_at=now)
    return record.model_copy(update=update)


def timeout_reason(timeout_s: float) -> str:
    return f"review_timeout: the plan was not reviewed within {timeout_s:g}s"


def review_expiry(record: JobRecord, now: datetime) -> str | None:
    """Why a job awaiting review must stop waiting (its review timeout or its deadline has
    passed), or None while it may wait on."""
    if record.status is not JobStatus.AWAITING_REVIEW:
        return None
    options = record.request.options
    since = record.review_requested_at or record.updated_at
    timeout = options.review_timeout_s
    if timeout is not None and now >= since + timedelta(seconds=timeout):
        return timeout_reason(timeout)
    if options.deadline_s is not None and now >= record.created_at + timedelta(
        seconds=options.deadline_s
    ):
        return "deadline: the job's deadline passed while its plan awaited review"
    return None


def never_ran(record: JobRecord) -> bool:
    """Stopped while its plan awaited review: no subtask was ever sent, none is owed."""
    if record.review_requested_at is None:
        return False
    return record.review is None or record.review.decision in ("rejected", "timed_out")


def review_event(before: JobRecord, after: JobRecord) -> tuple[EventKind, dict[str, Any]] | None:
    """For `records.transition_event`: `awaiting_review` as the plan waits, `planned` (with
    how it was reviewed) as the approved or edited plan starts to run."""
    if before.status is JobStatus.PLANNING and after.status is JobStatus.AWAITING_REVIEW:
        return EventKind.AWAITING_REVIEW, awaiting_review_summary(after)
    if before.status is JobStatus.AWAITING_REVIEW and after.status is JobStatus.RUNNING:
        decision = after.review.decision if after.review else None
        return EventKind.PLANNED, {**announcements.planned(after), "reviewed": decision}
    return None


def awaiting_review_summary(record: JobRecord) -> dict[str, Any]:
    """What the `awaiting_review` event says: enough to decide without reading the record."""
    plan = record.plan
    return {
        "subtasks": len(plan.subtasks) if plan else 0,
        "types": [s.type for s in plan.subtasks] if plan else [],
        "analysis": plan.analysis if plan else "",
        "review_timeout_s": record.request.options.review_timeout_s,
    }
