"""What the reconciler does with a job that has had no message in flight for a grace period:
pure, so every branch is unit-tested without processes.

A job in `planning` or `running` is always owned by a message (queued, reserved, running or
waiting on a retry countdown). When none is left (a chord lost to a Redis outage, a message
popped while Redis refused writes, a submit whose enqueue failed after its record was
written), nothing would ever finish the job. The reconciler drives it on from its record:
subtasks are idempotent (the first stored result wins), so a re-dispatch that races a late
original costs a call at most, never a second result.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from chorus.contract.models import JobRecord, JobStatus
from chorus.core import records, review


class Action(Enum):
    FORGET = "forget"  # final, or gone: stop watching it
    PLAN = "plan"  # send the planning step again (it resumes from the record)
    DISPATCH = "dispatch"  # run the subtasks with no stored result again
    GATHER = "gather"  # every result is in: build the final record
    FINISH = "finish"  # give up on the missing results: final record, the reason on each
    FAIL = "fail"  # a job that never got a plan: failed with the reason
    WAIT = "wait"  # a plan awaiting a person's review: nothing is owed, nothing to send
    EXPIRE_REVIEW = "expire_review"  # unreviewed past its review timeout or deadline: failed


@dataclass(frozen=True)
class Decision:
    action: Action
    indices: tuple[int, ...] = ()
    reason: str | None = None


def decide(
    record: JobRecord | None,
    stored: Collection[int],
    *,
    now: datetime,
    rounds: int,
    max_rounds: int,
) -> Decision:
    """The next step for an unowned job. `stored` holds the indices with a recorded result;
    `rounds` counts what the reconciler already did for this job (each re-send is one)."""
    if record is None or (record.status.is_final and not records.awaits_results(record)):
        return Decision(Action.FORGET)
    if record.status is JobStatus.AWAITING_REVIEW:
        # No message owns a job waiting for a person, by design: never re-plan or dispatch it.
        expired = review.review_expiry(record, now)
        return (
            Decision(Action.WAIT)
            if expired is None
            else Decision(Action.EXPIRE_REVIEW, reason=expired)
        )
    deadline = records.budget_of(record).deadline_at
    past_deadline = deadline is not None and now >= deadline
    if record.status is JobStatus.PLANNING or record.plan is None:
        if past_deadline:
            return Decision(
                Action.FAIL, reason="deadline: the job's deadline passed while planning"
            )
        if rounds >= max_rounds:
            return Decision(Action.FAIL, reason=f"planning never completed after {rounds} re-sends")
        return Decision(Action.PLAN)
    missing = tuple(s.index for s in record.plan.subtasks if s.index not in stored)
    if not missing:
        return Decision(Action.GATHER)
    if record.status is JobStatus.CANCELLED:
        return Decision(Action.FINISH, missing, records.CANCELLED_ERROR)
    if past_deadline:
        reason = "deadline: the job's deadline passed before this subtask's result was stored"
        return Decision(Action.FINISH, missing, reason)
    if rounds >= max_rounds:
        reason = f"no result was stored after {rounds} re-dispatches"
        return Decision(Action.FINISH, missing, reason)
    return Decision(Action.DISPATCH, missing)
