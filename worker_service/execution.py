"""Running one subtask: call the worker model and turn the outcome into a SubtaskResult.

A subtask that fails for good is returned as `status: failed` with its error, never raised,
so the chord always reaches the gather step. A retry is asked for by raising `RetryLater`
with the kwargs of the next attempt (attempts and first start travel with the message).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pydantic

from chorus.contract.events import EventKind
from chorus.contract.models import (
    SubtaskAssignment,
    SubtaskResult,
    SubtaskStatus,
    Usage,
    describe_validation_error,
)
from chorus.core import prompts, records, retry
from chorus.core.deltas import DeltaWriter
from chorus.core.outputs import parse_output
from chorus.core.ports import TaskDeps, WorkerReply
from chorus.core.rates import CallCost, estimate_input_tokens, wait_for_slot
from chorus.errors import ModelCallError, RetryLater
from chorus.worker_service import batched, warmup
from chorus.worker_service.recording import record
from chorus.worker_service.refusals import Refused, reject

log = logging.getLogger(__name__)


def execute(
    deps: TaskDeps, payload: dict[str, Any], *, node: str | None = None
) -> SubtaskResult | Refused:
    """The subtask's final result (stored once), or why the message was refused (it names no
    subtask, or one its job does not own). `node` is the Celery node running it, recorded on
    the result."""
    try:
        assignment = SubtaskAssignment.model_validate(payload)
    except pydantic.ValidationError as exc:
        return reject(deps, payload, describe_validation_error(exc))
    store = deps.store
    began = deps.clock()
    try:
        already, control = store.before_subtask(assignment.job_id, assignment.subtask.index)
    except Exception as exc:
        # No call made yet, so nothing is lost by coming back when the store answers.
        log.warning("job %s: store unavailable before the call (%s)", assignment.job_id, exc)
        raise RetryLater(retry.store_unavailable_delay_s(), "store unavailable") from exc
    if already is not None:
        # Redelivered after the result was recorded: answer the same, call no model again.
        return already
    if control.refusal is not None:
        # No such job, not its subtask, or a job taking no results: no call, no key written.
        log.warning("refused run_subtask message: %s", control.refusal)
        return Refused(control.refusal)
    started_at = assignment.first_started_at or deps.clock()
    attempt = assignment.attempts_made + 1
    stop = assignment.budget.exceeded(control.spent_tokens, control.spent_usd, deps.clock())
    stopping = control.cancelled or stop is not None
    # Batch mode: the reply a Message Batch gave (waits raise RetryLater); None: call directly.
    first = batched.visit(deps, assignment, stopping=stopping, started_at=started_at)
    if stopping and first is None:
        detail = (
            records.CANCELLED_ERROR
            if control.cancelled
            else f"{stop}: the job's limit was reached before this subtask could run"
        )
        skipped = _failed(deps, assignment, detail, attempt - 1, started_at)
        skipped = skipped.model_copy(
            update={"status": SubtaskStatus.SKIPPED, "usage": assignment.carried_usage}
        )
        return record(deps, assignment, skipped, node, began)
    try:
        if first is None:
            _before_call(deps, assignment, started_at, attempt)
    except RetryLater:
        _release_followers(deps, assignment)  # put off: the others need not wait for it
        raise
    except Exception as exc:
        log.warning("job %s: store unavailable before the call (%s)", assignment.job_id, exc)
        raise RetryLater(retry.store_unavailable_delay_s(), "store unavailable") from exc
    live = _live_text(deps, assignment, attempt) if first is None else None
    signal = warmup.lead_signal(deps, assignment)
    try:
        reply, data, mismatch = _call(deps, assignment, live, signal, first)
    except PaidCallError as paid:
        if live is not None:  # the partial text is no reply: a retry streams from the start
            live.drop()
        error = paid.error
        carried = assignment.carried_usage + paid.spent
        delay = retry.next_retry_delay_s(
            error.retryable, error.retry_after_s, attempt, deps.settings
        )
        if delay is not None:
            log.info(
                "job %s subtask %d: retry %d in %.1fs: %s",
                assignment.job_id,
                assignment.subtask.index,
                attempt,
                delay,
                error.message,
            )
            retry_kwargs = assignment.model_copy(
                update={
                    "first_started_at": started_at,
                    "last_error": error.message,
                    "attempts_made": attempt,
                    "carried_usage": carried,
                }
            ).model_dump(mode="json")
            _count_retry(deps, "subtask")
            raise RetryLater(delay, error.message, kwargs=retry_kwargs) from paid
        result = _failed(deps, assignment, error.message, attempt, started_at)
        result = result.model_copy(update={"usage": carried})
    except Exception as exc:
        # A bug must not stall the chord; the record keeps the class name, not internals.
        log.exception("job %s subtask %d crashed", assignment.job_id, assignment.subtask.index)
        crash = f"internal error: {type(exc).__name__}"
        result = _failed(deps, assignment, crash, attempt, started_at)
    else:
        note = "output truncated at max_tokens" if reply.truncated else None
        if mismatch is not None:  # kept on the record: the output was paid for
            note = f"output_schema: {mismatch}"
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
            usage=assignment.carried_usage + reply.usage,
            started_at=started_at,
            finished_at=deps.clock(),
            cache=assignment.cache.reason if assignment.cache else None,
            batched=first is not None,
        )
    finally:
        if signal is not None:  # failed or not, nobody waits for this call any longer
            signal()
    tail = live.tail() if live is not None and result.status is not SubtaskStatus.FAILED else None
    return record(deps, assignment, result, node, began, tail=tail)


REPAIR_ROUNDS = 1


def _before_call(
    deps: TaskDeps, assignment: SubtaskAssignment, started_at: datetime, attempt: int
) -> None:
    """Take a slot under the fleet's rate limit and announce the attempt."""
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
        deps.store.count_retry("subtask_throttled")
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


def _release_followers(deps: TaskDeps, assignment: SubtaskAssignment) -> None:
    signal = warmup.lead_signal(deps, assignment)
    if signal is not None:
        signal()


def _count_retry(deps: TaskDeps, stage: str) -> None:
    try:
        deps.store.count_retry(stage)
    except Exception as exc:  # a metric: never worth losing the retry over
        log.warning("could not count a %s retry: %s", stage, type(exc).__name__)


def _live_text(deps: TaskDeps, assignment: SubtaskAssignment, attempt: int) -> DeltaWriter | None:
    if not deps.settings.stream_deltas:
        return None
    index = assignment.subtask.index
    return DeltaWriter(deps.events, assignment.job_id, index, attempt)


def _call(
    deps: TaskDeps,
    assignment: SubtaskAssignment,
    live: DeltaWriter | None = None,
    signal: Callable[[], None] | None = None,
    first: WorkerReply | None = None,
) -> tuple[WorkerReply, Any, str | None]:
    """The worker's reply (one `<response>` element unwrapped), its parsed value and, for a job
    with an output schema, why it still does not match after one repair round (or None).
    The first call's text is published as it arrives (`live`); a repair round's is not: a
    reader has seen the first reply, and a second one appended would read as one text.
    Its output comes with `subtask_finished`. `first`: the first reply, from a batch."""
    ttl = batched.cache_ttl(assignment) if first else warmup.cache_ttl(deps, assignment)
    on_text = warmup.with_signal(live, signal)
    try:
        reply = first or deps.model.run_subtask(assignment, on_text=on_text, cache_ttl=ttl)
    except ModelCallError as exc:
        raise PaidCallError(exc, Usage()) from exc
    schema = assignment.output_schema
    if schema is None:
        # The text left unsent goes out with the result (`live.tail()`), in one round trip.
        return _unwrapped(reply), None, None
    if live is not None:  # a repair round may follow: what the reader has seen is complete
        live.close()
    spent = reply.usage
    for round_no in range(REPAIR_ROUNDS + 1):
        data, problem = parse_output(reply.output, schema)
        if problem is not None and reply.truncated:
            # Asked again with the same max_tokens, the model would be cut off again: say why
            # instead of paying for a repair round.
            problem = (
                f"the reply was cut off at max_tokens ({assignment.max_tokens}) before its JSON "
                f"was complete; raise worker_max_tokens ({problem})"
            )
            break
        if problem is not None and round_no == REPAIR_ROUNDS:
            problem = f"{problem} (after {REPAIR_ROUNDS} repair round)"
        if problem is None or round_no == REPAIR_ROUNDS:
            break
        repair = prompts.Repair(reply=reply.output, problem=problem)
        try:
            reply = deps.model.run_subtask(assignment, repair, cache_ttl=ttl)
        except ModelCallError as exc:
            # The first reply was paid for: its usage travels on with the retry.
            raise PaidCallError(exc, spent) from exc
        spent = spent + reply.usage
    return WorkerReply(reply.output, spent, reply.truncated), data, problem


class PaidCallError(Exception):
    """A model call failed after `spent` had already been paid for in this attempt."""

    def __init__(self, error: ModelCallError, spent: Usage) -> None:
        super().__init__(error.message)
        self.error = error
        self.spent = spent


def _unwrapped(reply: WorkerReply) -> WorkerReply:
    return WorkerReply(prompts.unwrap_response(reply.output), reply.usage, reply.truncated)


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
