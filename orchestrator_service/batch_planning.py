"""A batch-mode job's planning call through the Message Batches API: it joins the same
collector as the workers' calls (so many jobs' planning calls share a batch), and the run_job
message waits with countdown retries, costing no attempt. A success is the plan at the batch
price; an error, an expiry, a cancelled batch or a wait past batch_max_wait_s sends planning to
the direct call. A repair round is always made directly."""

from __future__ import annotations

import logging

from chorus.contract.batches import BatchItem, custom_id
from chorus.contract.caching import CacheUse
from chorus.contract.models import JobRecord
from chorus.core import batch_waits
from chorus.core.ports import PlanReply, TaskDeps
from chorus.errors import RetryLater

log = logging.getLogger(__name__)


class WaitingForBatch(RetryLater):
    """The planning request is in (or waiting for) a batch: look again in batch_poll_s."""


def planned(
    deps: TaskDeps, record: JobRecord, *, max_tokens: int, cache: CacheUse | None, attempt: int
) -> PlanReply | None:
    """The plan the batch gave (PlanError when it is unusable, as from a direct call), or
    None: ask directly. Raises WaitingForBatch while the request waits."""
    port = deps.batches
    request = record.request
    if request.options.mode != "batch" or port is None:
        return None
    cid = custom_id(record.job_id, "plan", 0, 1, attempt)
    item, outcome = port.lookup(cid)
    if outcome is not None:
        if outcome.result == "succeeded" and outcome.message is not None:
            return deps.model.plan_reply(
                request, outcome.message, max_tokens=max_tokens, batch=True
            )
        log.info(
            "planning %s: batch request %s (%s); asking directly",
            record.job_id,
            outcome.result,
            outcome.error,
        )
        return None
    now = deps.clock()
    wait = WaitingForBatch(deps.settings.batch_poll_s, "waiting for batch")
    if item is None:
        # Batch requests run within the hour: a cached block is written for an hour.
        ttl_cache = cache.model_copy(update={"ttl": "1h"}) if cache is not None else None
        params = deps.model.plan_params(
            request, model=record.orchestrator_model, max_tokens=max_tokens, cache=ttl_cache
        )
        port.add(
            BatchItem(
                custom_id=cid,
                job_id=record.job_id,
                kind="plan",
                attempt=attempt,
                params=params,
                added_at=now,
            )
        )
        raise wait
    if batch_waits.gave_up(deps, port, item, f"planning {record.job_id}"):
        return None
    raise wait
