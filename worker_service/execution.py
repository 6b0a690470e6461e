"""Running one subtask: call the worker model and turn the outcome into a SubtaskResult.

A subtask that fails for good is returned as `status: failed` with its error, never raised,
so the chord always reaches the gather step.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import pydantic

from shared import records
from shared.celery_app import ChorusCelery
from shared.errors import ModelCallError
from shared.job_events import EventKind
from shared.models import (
    SubtaskAssignment,
    SubtaskResult,
    SubtaskStatus,
    describe_validation_error,
)
from shared.rate_limiter import CallCost, estimate_input_tokens, wait_for_slot
from shared.retry_policy import next_retry_delay_s

log = logging.getLogger(__name__)


def execute(task: Any, app: ChorusCelery, payload: dict[str, Any]) -> SubtaskResult | None:
    """The subtask's final result (stored once), or None for a message that names no subtask."""
    try:
        assignment = SubtaskAssignment.model_validate(payload)
    except pydantic.ValidationError as exc:
        return _reject(app, payload, describe_validation_error(exc))
    store = app.job_store
    already, control = store.before_subtask(assignment.job_id, assignment.subtask.index)
    if already is not None:
        # Redelivered after the result was recorded: answer the same, call no model again.
        return already
    started_at = assignment.first_started_at or records.utc_now()
    attempt = assignment.attempts_made + 1
    stop = assignment.budget.exceeded(control.spent_tokens, control.spent_usd, records.utc_now())
    if control.cancelled or stop is not None:
        detail = (
            records.CANCELLED_ERROR
            if control.cancelled
            else f"{stop}: the job's limit was reached before this subtask could run"
        )
        skipped = _failed(assignment, detail, attempt - 1, started_at)
        skipped = skipped.model_copy(update={"status": SubtaskStatus.SKIPPED})
        return _record(task, app, assignment, skipped)
    cost = CallCost(
        input_tokens=estimate_input_tokens(
            assignment.task, str(assignment.context), assignment.subtask.description
        ),
        output_tokens=assignment.max_tokens,
    )
    # Built before taking a slot, so the slot's time is when the request really leaves.
    client = app.model_client
    throttled_s = wait_for_slot(app.rate_limiter, assignment.model, cost)
    if throttled_s > 0:
        # Over the fleet's limit: back on the queue, holding no slot, costing no attempt.
        requeued = assignment.model_copy(update={"first_started_at": started_at})
        countdown = throttled_s + random.uniform(0, 0.5)
        app.job_store.count_retry("subtask_throttled")
        raise task.retry(kwargs=requeued.model_dump(mode="json"), countdown=countdown)
    app.job_events.emit(
        assignment.job_id,
        EventKind.SUBTASK_STARTED,
        index=assignment.subtask.index,
        type=assignment.subtask.type,
        attempt=attempt,
    )
    try:
        reply = client.run_subtask(assignment)
    except ModelCallError as exc:
        delay = next_retry_delay_s(exc.retryable, exc.retry_after_s, attempt, app.settings)
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
            app.job_store.count_retry("subtask")
            raise task.retry(kwargs=retry_kwargs, countdown=delay, exc=exc) from exc
        result = _failed(assignment, exc.message, attempt, started_at)
    except Exception as exc:
        # A bug must not stall the chord; the record keeps the class name, not internals.
        log.exception("job %s subtask %d crashed", assignment.job_id, assignment.subtask.index)
        result = _failed(assignment, f"internal error: {type(exc).__name__}", attempt, started_at)
    else:
        result = SubtaskResult(
            index=assignment.subtask.index,
            type=assignment.subtask.type,
            description=assignment.subtask.description,
            status=SubtaskStatus.SUCCEEDED,
            output=reply.output,
            error="output truncated at max_tokens" if reply.truncated else None,
            attempts=attempt,
            model=assignment.model,
            usage=reply.usage,
            started_at=started_at,
            finished_at=records.utc_now(),
        )
    return _record(task, app, assignment, result)


def _record(
    task: Any, app: ChorusCelery, assignment: SubtaskAssignment, result: SubtaskResult
) -> SubtaskResult:
    job_id = assignment.job_id
    result = result.model_copy(update={"worker": getattr(task.request, "hostname", None)})
    # Stored, counted and announced (`subtask_finished`) in one step, only by the first writer.
    return app.job_store.save_result(job_id, result)


def _failed(
    assignment: SubtaskAssignment, error: str, attempts: int, started_at: Any
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
        finished_at=records.utc_now(),
    )


def _reject(app: ChorusCelery, payload: dict[str, Any], reason: str) -> SubtaskResult | None:
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
        finished_at=records.utc_now(),
    )
    return app.job_store.save_result(job_id, result)
