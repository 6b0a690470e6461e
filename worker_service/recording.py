"""Storing a subtask's result: the reply was paid for, so it is kept trying to store while the
job can still use it."""

from __future__ import annotations

from datetime import datetime, timedelta

from chorus.contract.models import SubtaskAssignment, SubtaskResult
from chorus.core import retry
from chorus.core.persisting import keep_trying
from chorus.core.ports import DeltaTail, TaskDeps


def record(
    deps: TaskDeps,
    assignment: SubtaskAssignment,
    result: SubtaskResult,
    node: str | None,
    began: datetime,
    *,
    tail: DeltaTail | None = None,
) -> SubtaskResult:
    """Store the result (stored, counted and announced in one step, only by the first
    writer, after the reply's last text: `tail`). The reply was paid for: while Redis is
    away or refusing writes, keep trying for as long as the job can use it, then give up to
    the reconciler."""
    result = result.model_copy(update={"worker": node, "run": assignment.run})
    return keep_trying(
        lambda: deps.store.save_result(assignment.job_id, result, assignment.tenant, tail=tail),
        what=f"job {assignment.job_id} subtask {assignment.subtask.index}'s result",
        clock=deps.clock,
        sleep=deps.sleep,
        give_up_at=lambda now: save_deadline(deps, assignment, began, now),
    )


def save_deadline(
    deps: TaskDeps, assignment: SubtaskAssignment, began: datetime, now: datetime
) -> datetime:
    """The earliest of: the cap from the first failure, the job's deadline, and the point
    where kombu would restore this message (a redelivery would call the model again)."""
    settings = deps.settings
    bounds = [
        now + timedelta(seconds=settings.result_save_cap_s),
        began + timedelta(seconds=settings.visibility_timeout_s - retry.VISIBILITY_MARGIN_S),
    ]
    if assignment.budget.deadline_at is not None:
        bounds.append(assignment.budget.deadline_at)
    return min(bounds)
