"""What a record change brings with it, queued in the same transaction as the change
(`JobStore.update`): the fleet's counters and minute buckets, planning spend on the job's
ledger, the subtasks the job owns, the active-jobs watch list, the event announcing it and
the webhook it owes.
Kept here so the job store stays readable, and so each new kind of transition adds its
effects in one place."""

from __future__ import annotations

import time
from datetime import datetime

from redis.client import Pipeline

from chorus.contract import limits, names
from chorus.contract.events import MAX_EVENTS_PER_JOB, event_fields
from chorus.contract.models import JobRecord, Usage
from chorus.core import fleet_buckets, metrics, records, webhooks
from chorus.store.job_claims import queue_owned_subtasks, queue_rerun


def queue_transition(
    pipe: Pipeline,
    job_id: str,
    current: JobRecord,
    updated: JobRecord,
    ttl_s: int,
    *,
    linger_ms: int = int(limits.DEFAULT_DELTA_LINGER_S * 1000),
) -> None:
    """Queue the effects of `current` becoming `updated` on `pipe` (inside its MULTI).
    A job that ends keeps its delta streams `linger_ms` longer, then holds none."""
    finalised = metrics.finalised_increments(current, updated)
    for field, amount in finalised.items():
        pipe.hincrbyfloat(names.METRICS_KEY, field, amount)
    tenant = updated.request.tenant
    minute = fleet_buckets.minute_increments(finalised, tenant)
    spend = records.planning_spend(current, updated)
    if spend is not None:
        planned = _queue_spend(pipe, job_id, spend, updated, ttl_s)
        minute.update(fleet_buckets.minute_increments(planned, tenant))
    queue_minute(pipe, minute, updated.finished_at)
    queue_owned_subtasks(pipe, job_id, current, updated, ttl_s)
    if updated.status.is_final:
        pipe.zrem(names.ACTIVE_JOBS_KEY, job_id)
        if not current.status.is_final:
            _queue_delta_expiry(pipe, updated, linger_ms)
    elif current.status.is_final:  # a retry
        queue_rerun(pipe, job_id, updated, ttl_s)
    hook = webhooks.outbox_event(current, updated)
    if hook is not None:
        # Queued with the change itself: a job never ends without its webhook due, and the
        # POST happens later, in the orchestrator's sender, so nothing here waits for it.
        member = webhooks.outbox_member(job_id, hook, webhooks.run_number(updated))
        pipe.zadd(names.WEBHOOK_OUTBOX_KEY, {member: time.time()})
    announced = records.transition_event(current, updated)
    if announced is not None:
        events_key = names.job_events_key(job_id)
        fields = event_fields(job_id, announced[0], **announced[1])
        pipe.xadd(events_key, fields, maxlen=MAX_EVENTS_PER_JOB, approximate=True)  # type: ignore[arg-type]
        pipe.expire(events_key, ttl_s)


def _queue_delta_expiry(pipe: Pipeline, record: JobRecord, linger_ms: int) -> None:
    """Every delta stream the job can have: one per subtask of its plan (a retry or an edit
    keeps the indices within it), and the synthesis's. A PEXPIRE of a missing key costs
    nothing."""
    job_id = record.job_id
    for subtask in record.plan.subtasks if record.plan else []:
        pipe.pexpire(names.job_deltas_key(job_id, subtask.index), linger_ms)
    pipe.pexpire(names.job_synthesis_deltas_key(job_id), linger_ms)


def _queue_spend(
    pipe: Pipeline, job_id: str, usage: Usage, record: JobRecord, ttl_s: int
) -> dict[str, float]:
    """Queue planning spend for the job's budget ledger and the fleet's counters (returned)."""
    model, tenant = record.orchestrator_model, record.request.tenant
    key = names.job_control_key(job_id)
    pipe.hincrby(key, "tokens", usage.total_tokens)
    pipe.hincrbyfloat(key, "cost_usd", usage.cost_usd)
    pipe.expire(key, ttl_s)
    increments = metrics.token_increments(model, usage, tenant)
    for field, amount in increments.items():
        pipe.hincrbyfloat(names.METRICS_KEY, field, amount)
    return increments


def queue_minute(pipe: Pipeline, minute: dict[str, float], at: datetime | None) -> None:
    """Queue a change's share of its minute's fleet bucket (`chorus.core.fleet_buckets`)."""
    if not minute:
        return
    key = names.fleet_minute_key(minute_of(at))
    for field, amount in minute.items():
        pipe.hincrbyfloat(key, field, amount)
    pipe.expire(key, fleet_buckets.BUCKET_TTL_S)


def minute_of(at: datetime | None) -> int:
    """The bucket of an event finished `at`, or of now (planning spend has no finish time)."""
    return fleet_buckets.epoch_minute(at if at is not None else time.time())
