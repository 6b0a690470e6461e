"""A batch-mode subtask's call through the Message Batches API (`options.mode = "batch"`).

The first visit adds the request to the collector and waits; each later visit (a countdown
retry: no worker slot held, no attempt spent) looks for its outcome. A success is the reply,
at the batch price; an error, an expiry, a cancelled batch or a wait past batch_max_wait_s
sends the caller to the direct call instead. On cancel, a request not yet in a batch is dropped
(the subtask ends skipped as ever); one in a batch is a call in flight: waited for and recorded.
"""

from __future__ import annotations

import logging
from datetime import datetime

from chorus.contract.batches import BatchItem, BatchOutcome, custom_id
from chorus.contract.caching import CacheTtl
from chorus.contract.events import EventKind
from chorus.contract.models import SubtaskAssignment
from chorus.core import batch_waits, retry
from chorus.core.ports import BatchPort, TaskDeps, WorkerReply
from chorus.errors import ModelCallError, RetryLater

log = logging.getLogger(__name__)

WAITING = "waiting for batch"


def visit(
    deps: TaskDeps, assignment: SubtaskAssignment, *, stopping: bool, started_at: datetime
) -> WorkerReply | None:
    """The reply the batch gave, or None: call directly (or, `stopping`, skip as usual).
    Raises RetryLater while the request waits."""
    port = deps.batches
    if assignment.mode != "batch" or port is None:
        return None
    try:
        return _visit(deps, port, assignment, stopping=stopping, started_at=started_at)
    except RetryLater:
        raise
    except Exception as exc:
        # The collector is in Redis: with it away, come back rather than pay full price.
        log.warning("job %s: batch collector unavailable (%s)", assignment.job_id, exc)
        wait = _wait(deps, assignment, started_at)
        raise RetryLater(
            retry.store_unavailable_delay_s(), "store unavailable", kwargs=wait.kwargs
        ) from exc


def _visit(
    deps: TaskDeps,
    port: BatchPort,
    assignment: SubtaskAssignment,
    *,
    stopping: bool,
    started_at: datetime,
) -> WorkerReply | None:
    attempt = assignment.attempts_made + 1
    index = assignment.subtask.index
    cid = custom_id(assignment.job_id, "subtask", index, assignment.run, attempt)
    item, outcome = port.lookup(cid)
    if outcome is not None:
        return _answered(deps, assignment, outcome, stopping)
    if stopping:
        if item is None or port.drop(cid):
            return None  # nothing was sent: the subtask ends skipped, costing nothing
        raise _wait(deps, assignment, started_at)  # in a batch: a call in flight
    now = deps.clock()
    if item is None:
        _add(deps, port, assignment, cid, attempt, now)
        raise _wait(deps, assignment, started_at)
    if batch_waits.gave_up(deps, port, item, f"job {assignment.job_id} subtask {index}"):
        return None
    raise _wait(deps, assignment, started_at)


def cache_ttl(assignment: SubtaskAssignment) -> CacheTtl | None:
    """The TTL the dispatch chose for a batch request's shared block (1 hour: a batch's
    requests run in any order within the hour), or None: unmarked."""
    return assignment.cache.ttl if assignment.cache is not None else None


def _add(
    deps: TaskDeps,
    port: BatchPort,
    assignment: SubtaskAssignment,
    cid: str,
    attempt: int,
    now: datetime,
) -> None:
    params = deps.model.subtask_params(assignment, None, cache_ttl(assignment))
    port.add(
        BatchItem(
            custom_id=cid,
            job_id=assignment.job_id,
            kind="subtask",
            index=assignment.subtask.index,
            run=assignment.run,
            attempt=attempt,
            params=params,
            added_at=now,
        )
    )
    deps.events.emit(
        assignment.job_id,
        EventKind.SUBTASK_STARTED,
        index=assignment.subtask.index,
        type=assignment.subtask.type,
        attempt=attempt,
        batched=True,
    )


def _answered(
    deps: TaskDeps, assignment: SubtaskAssignment, outcome: BatchOutcome, stopping: bool
) -> WorkerReply | None:
    where = f"job {assignment.job_id} subtask {assignment.subtask.index}"
    if outcome.result == "succeeded" and outcome.message is not None:
        try:
            return deps.model.subtask_reply(assignment, outcome.message, batch=True)
        except ModelCallError as exc:
            log.info("%s: unusable batch answer (%s); calling directly", where, exc.message)
            return None
    if not stopping:
        log.info(
            "%s: batch request %s (%s); calling directly", where, outcome.result, outcome.error
        )
    return None


def _wait(deps: TaskDeps, assignment: SubtaskAssignment, started_at: datetime) -> RetryLater:
    # The same attempt comes back: waiting costs no attempt, like a throttled requeue.
    again = assignment.model_copy(update={"first_started_at": started_at})
    return RetryLater(deps.settings.batch_poll_s, WAITING, kwargs=again.model_dump(mode="json"))
