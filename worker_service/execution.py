"""Running one subtask: call the worker model and turn the outcome into a SubtaskResult.

A subtask that fails for good is returned as `status: failed` with its error, never raised,
so the chord always reaches the gather step. A retry is asked for by raising `RetryLater`
with the kwargs of the next attempt (attempts and first start travel with the message).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import pydantic

from chorus.contract.events import EventKind
from chorus.contract.models import (
    SubtaskAssignment,
    SubtaskResult,
    SubtaskStatus,
    describe_validation_error,
)
from chorus.core import prompts, records, retry
from chorus.core.outputs import parse_output
from chorus.core.ports import TaskDeps, WorkerReply
from chorus.core.rates import CallCost, estimate_input_tokens, wait_for_slot
from chorus.errors import ModelCallError, RetryLater

log = logging.getLogger(__name__)


def execute(
    deps: TaskDeps, payload: dict[str, Any], *, node: str | None = None
) -> SubtaskResult | None:
    """The subtask's final result (stored once), or None for a message that names no subtask.
    `node` is the Celery node running it, recorded on the result."""
    try:
        assignment = SubtaskAssignment.model_validate(payload)
    except pydantic.ValidationError as exc:
        return _reject(deps, payload, describe_validation_error(exc))
    store = deps.store
    already, control = store.before_subtask(assignment.job_id, assignment.subtask.index)
    if already is not None:
        # Redelivered after the result was recorded: answer the same, call no model again.
        return already
    started_at = assignment.first_started_at or deps.clock()
    attempt = assignment.attempts_made + 1
    stop = assignment.budget.exceeded(control.spent_tokens, control.spent_usd, deps.clock())
    if control.cancelled or stop is not None:
        detail = (
            records.CANCELLED_ERROR
            if control.cancelled
            else f"{stop}: the job's limit was reached before this subtask could run"
        )
        skipped = _failed(deps, assignment, detail, attempt - 1, started_at)
        skipped = skipped.model_copy(update={"status": SubtaskStatus.SKIPPED})
        return _record(deps, assignment, skipped, node)
    cost = CallCost(
        input_tokens=estimate_input_tokens(
            assignment.task, str(assignment.context), assignment.subtask.description
        ),
        output_tokens=assignment.max_tokens,
    )
    throttled_s = wait_for_slot(deps.limiter, assignment.model, cost, sleep=deps.sleep)
    if throttled_s > 0:
        # Over the fleet's limit: back on the queue, holding no slot, costing no attempt.
        requeued = assignment.model_copy(update={"first_started_at": started_at})
        store.count_retry("subtask_throttled")
        raise RetryLater(
            retry.throttled_delay_s(throttled_s),
            "rate limit",
            kwargs=requeued.model_dump(mode="json"),
        )
    deps.events.emit(
        assignment.job_id,
        EventKind.SUBTASK_STARTED,
        index=assignment.subtask.index,
        type=assignment.subtask.type,
        attempt=attempt,
    )
    try:
        reply, data, mismatch = _call(deps, assignment)
    except ModelCallError as exc:
        delay = retry.next_retry_delay_s(exc.retryable, exc.retry_after_s, attempt, deps.settings)
        if delay is not None:
            log.info(
                "job %s subtask %d: retry %d in %.1fs: %s",
                assignment.job_id,
                assignment.subtask.index,
                attempt,
                delay,
                exc.message,
            )
            retry_kwargs = assignment.model_copy(
                update={
                    "first_started_at": started_at,
                    "last_error": exc.message,
                    "attempts_made": attempt,
                }
            ).model_dump(mode="json")
            store.count_retry("subtask")
            raise RetryLater(delay, exc.message, kwargs=retry_kwargs) from exc
        result = _failed(deps, assignment, exc.message, attempt, started_at)
    except Exception as exc:
        # A bug must not stall the chord; the record keeps the class name, not internals.
        log.exception("job %s subtask %d crashed", assignment.job_id, assignment.subtask.index)
        error = f"internal error: {type(exc).__name__}"
        result = _failed(deps, assignment, error, attempt, started_at)
    else:
        note = "output truncated at max_tokens" if reply.truncated else None
        if mismatch is not None:  # kept on the record: the output was paid for
            note = f"output_schema: {mismatch} (after {REPAIR_ROUNDS} repair round)"
        result = SubtaskResult(
            index=assignment.subtask.index,
            type=assignment.subtask.type,
            description=assignment.subtask.description,
            status=SubtaskStatus.SUCCEEDED if mismatch is None else SubtaskStatus.FAILED,
            output=reply.output,
            data=data,
            error=note,
            attempts=attempt,
            model=assignment.model,
            usage=reply.usage,
            started_at=started_at,
            finished_at=deps.clock(),
        )
    return _record(deps, assignment, result, node)


REPAIR_ROUNDS = 1


def _call(deps: TaskDeps, assignment: SubtaskAssignment) -> tuple[WorkerReply, Any, str | None]:
    """The worker's reply (one `<response>` element unwrapped), its parsed value and, for a job
    with an output schema, why it still does not match after one repair round (or None)."""
    reply = deps.model.run_subtask(assignment)
    schema = assignment.output_schema
    if schema is None:
        return _unwrapped(reply), None, None
    spent = reply.usage
    for round_no in range(REPAIR_ROUNDS + 1):
        data, problem = parse_output(reply.output, schema)
        if problem is None or round_no == REPAIR_ROUNDS:
            break
        repair = prompts.Repair(reply=reply.output, problem=problem)
        reply = deps.model.run_subtask(assignment, repair)
        spent = spent + reply.usage
    return WorkerReply(reply.output, spent, reply.truncated), data, problem


def _unwrapped(reply: WorkerReply) -> WorkerReply:
    return WorkerReply(prompts.unwrap_response(reply.output), reply.usage, reply.truncated)


def _record(
    deps: TaskDeps, assignment: SubtaskAssignment, result: SubtaskResult, node: str | None
) -> SubtaskResult:
    result = result.model_copy(update={"worker": node})
    # Stored, counted and announced (`subtask_finished`) in one step, only by the first writer.
    return deps.store.save_result(assignment.job_id, result)


def _failed(
    deps: TaskDeps,
    assignment: SubtaskAssignment,
    error: str,
    attempts: int,
    started_at: datetime,
) -> SubtaskResult:
    return SubtaskResult(
        index=assignment.subtask.index,
        type=assignment.subtask.type,
        description=assignment.subtask.description,
        status=SubtaskStatus.FAILED,
        error=error,
        attempts=attempts,
        model=assignment.model,
        started_at=started_at,
        finished_at=deps.clock(),
    )


def _reject(deps: TaskDeps, payload: dict[str, Any], reason: str) -> SubtaskResult | None:
    """Record a malformed message as a failed subtask when it names one, so nothing vanishes."""
    job_id = payload.get("job_id")
    subtask = payload.get("subtask")
    index = subtask.get("index") if isinstance(subtask, dict) else None
    log.warning("rejected run_subtask message for job %r: %s", job_id, reason)
    if not isinstance(job_id, str) or not isinstance(index, int) or index < 0:
        return None
    result = SubtaskResult(
        index=index,
        type=str(subtask.get("type", "")) if isinstance(subtask, dict) else "",
        description=str(subtask.get("description", "")) if isinstance(subtask, dict) else "",
        status=SubtaskStatus.FAILED,
        error=f"invalid subtask message: {reason}",
        attempts=0,
        finished_at=deps.clock(),
    )
    return deps.store.save_result(job_id, result)
