"""Batch mode's two tasks: `flush` sends the collected requests as one Message Batch, `poll`
looks at a batch until it has ended and stores every request's outcome by custom_id, where
the waiting tasks (`chorus.worker_service.batched`, `batch_planning`) find it.

Both are idempotent: a redelivered flush takes only what is still pending, a redelivered poll
stores the same outcomes again. A create that fails retryably puts its requests back; one
that fails for good answers them `errored`, so their waiters make the calls directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chorus.contract.batches import BatchInfo, BatchItem, BatchOutcome
from chorus.contract.models import JobStatus
from chorus.core import retry
from chorus.core.ports import BatchCollectorPort, JobStorePort, ModelPort
from chorus.errors import ModelCallError, RetryLater
from chorus.settings import Settings

log = logging.getLogger(__name__)

CANCELLED_BEFORE_SENT = "the job was cancelled before its batch was sent"


@dataclass(frozen=True)
class BatchDeps:
    settings: Settings
    collector: BatchCollectorPort
    model: ModelPort
    store: JobStorePort
    clock: Callable[[], datetime]
    # Send another flush at once; poll `batch_id` after `countdown` seconds.
    schedule_flush: Callable[[], None]
    schedule_poll: Callable[[str, float], None]


def flush(deps: BatchDeps, *, retries: int = 0) -> dict[str, Any]:
    """Send up to batch_max_requests pending requests as one batch and schedule its poll."""
    settings = deps.settings
    items = deps.collector.take(settings.batch_max_requests, deps.clock())
    if deps.collector.pending_count():
        deps.schedule_flush()  # more than one batch's worth waits: the next goes at once
    cancelled = _cancelled_jobs(deps, {item.job_id for item in items})
    dropped = [item for item in items if item.job_id in cancelled]
    if dropped:
        deps.collector.save_outcomes(_answer(dropped, "canceled", CANCELLED_BEFORE_SENT))
    items = [item for item in items if item.job_id not in cancelled]
    if not items:
        return {"batch_id": None, "requests": 0, "dropped": len(dropped)}
    requests = [{"custom_id": item.custom_id, "params": item.params} for item in items]
    try:
        batch_id = deps.model.create_batch(requests)
    except ModelCallError as exc:
        attempt = retries + 1
        delay = retry.next_retry_delay_s(exc.retryable, exc.retry_after_s, attempt, settings)
        if delay is not None:
            log.warning("batch create failed (%s); %d request(s) put back", exc, len(items))
            deps.collector.put_back(item.custom_id for item in items)
            raise RetryLater(delay, exc.message) from exc
        log.warning("batch create failed for good (%s); calls go direct", exc)
        error = f"the batch could not be created: {exc.message}"
        deps.collector.save_outcomes(_answer(items, "errored", error))
        return {"batch_id": None, "requests": 0, "errored": len(items)}
    info = BatchInfo(
        batch_id=batch_id,
        custom_ids=[item.custom_id for item in items],
        job_ids=sorted({item.job_id for item in items}),
    )
    deps.collector.mark_sent(info)
    deps.schedule_poll(batch_id, settings.batch_poll_s)
    log.info("batch %s: %d request(s) of %d job(s)", batch_id, len(items), len(info.job_ids))
    return {"batch_id": batch_id, "requests": len(items), "dropped": len(dropped)}


def poll(deps: BatchDeps, batch_id: str) -> dict[str, Any]:
    """Until the batch has ended, look again in batch_poll_s (a countdown retry: no slot held),
    cancelling it once every job with a request in it is cancelled; then store its results."""
    info = deps.collector.batch(batch_id)
    wait_s = deps.settings.batch_poll_s
    try:
        status = deps.model.batch_status(batch_id)
        if not status.ended:
            if info is not None and not info.cancel_requested:
                _cancel_if_unwanted(deps, info)
            raise RetryLater(wait_s, f"batch {batch_id} is {status.processing_status}")
        outcomes = deps.model.batch_results(batch_id)
    except ModelCallError as exc:
        if exc.retryable:
            raise RetryLater(max(wait_s, exc.retry_after_s or 0.0), exc.message) from exc
        # The batch cannot be read (gone, or refused): its waiters make their calls directly.
        log.warning("batch %s cannot be read (%s); its requests go direct", batch_id, exc)
        error = f"the batch could not be read: {exc.message}"
        deps.collector.save_outcomes(_missing(info, [], error))
        return {"batch_id": batch_id, "status": "unreadable"}
    answered = _missing(info, outcomes, "the batch returned no result for this request")
    deps.collector.save_outcomes([*outcomes, *answered])
    counts: dict[str, int] = {}
    for outcome in [*outcomes, *answered]:
        counts[outcome.result] = counts.get(outcome.result, 0) + 1
    return {"batch_id": batch_id, "status": "ended", **counts}


def _cancel_if_unwanted(deps: BatchDeps, info: BatchInfo) -> None:
    if not info.job_ids or _cancelled_jobs(deps, set(info.job_ids)) != set(info.job_ids):
        return
    log.info("batch %s: every job in it is cancelled; cancelling the batch", info.batch_id)
    deps.model.cancel_batch(info.batch_id)
    deps.collector.save_batch(info.model_copy(update={"cancel_requested": True}))


def _cancelled_jobs(deps: BatchDeps, job_ids: set[str]) -> set[str]:
    cancelled = set()
    for job_id in job_ids:
        record = deps.store.find(job_id)
        if record is not None and record.status is JobStatus.CANCELLED:
            cancelled.add(job_id)
    return cancelled


def _answer(items: list[BatchItem], result: Any, error: str) -> list[BatchOutcome]:
    return [BatchOutcome(custom_id=i.custom_id, result=result, error=error) for i in items]


def _missing(
    info: BatchInfo | None, outcomes: list[BatchOutcome], error: str
) -> list[BatchOutcome]:
    if info is None:
        return []
    seen = {outcome.custom_id for outcome in outcomes}
    return [
        BatchOutcome(custom_id=cid, result="errored", error=error)
        for cid in info.custom_ids
        if cid not in seen
    ]
