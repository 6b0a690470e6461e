"""The planning step of `orchestrator.run_job`: record the job, ask for a plan, store it, and
hand the record to the dispatcher.

Transient model failures ask for a retry (`RetryLater`), so a job waiting out a 529 holds no
worker slot. A plan that breaks the rules gets one repair round in which the model sees the
validation error; then the job fails with the reason.

One job per job id, however many messages name it: a message whose request differs from the
stored job's is rejected; of concurrent deliveries one holds the planning claim (the others
wait for the record to leave `planning`), and the chord goes out once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pydantic

from chorus.contract import limits
from chorus.contract.models import (
    JobRecord,
    JobRequest,
    JobStatus,
    Plan,
    Usage,
    describe_validation_error,
    job_id_problem,
)
from chorus.core import caching, records, retry, review
from chorus.core.persisting import keep_trying
from chorus.core.ports import TaskDeps
from chorus.core.rates import CallCost, estimate_input_tokens, wait_for_slot
from chorus.core.submission import initial_record, same_job
from chorus.errors import InvalidRequest, JobIdInUse, ModelCallError, PlanError, RetryLater
from chorus.orchestrator_service import batch_planning
from chorus.orchestrator_service.plan_rules import validate_plan

log = logging.getLogger(__name__)

REPAIR_ROUNDS = 1
# The run_job kwargs a retry carries its delivery's planning claim in, and how many of its
# retries were spent waiting for another delivery's plan (those cost no attempt).
CLAIM_KWARG = "planning_claim"
WAITS_KWARG = "planning_waits"


class PlanningBusy(RetryLater):
    """Another delivery holds the job's planning claim: look again once it may be done."""


def parse_request(payload: dict[str, Any], *, fallback_job_id: str) -> JobRequest | str:
    """The validated request (job_id filled in), or a one-line reason it was rejected."""
    try:
        request = JobRequest.model_validate(payload)
    except pydantic.ValidationError as exc:
        return describe_validation_error(exc)
    if request.job_id:
        return request
    # A bare Celery client's task id becomes the job id: it meets the same rule.
    problem = job_id_problem(fallback_job_id)
    if problem is not None:
        return f"job_id (the task id): {problem}"
    return request.model_copy(update={"job_id": fallback_job_id})


def run_job(
    deps: TaskDeps,
    payload: dict[str, Any],
    *,
    task_id: str,
    retries: int,
    dispatch: Callable[[JobRecord], object],
    delivery: str | None = None,
) -> dict[str, Any]:
    """Plan the job and fan its subtasks out through `dispatch`. Returns {job_id, status}.
    `delivery` names this message (its broker delivery tag, which a message handed back
    after a crash keeps), so a redelivery of the planning claim's holder carries on."""
    request = parse_request(payload, fallback_job_id=task_id)
    if not isinstance(request, str):
        try:
            # Submitted through Chorus, this is resolved already (and resolving is idempotent);
            # a bare Celery client's message names its profile here.
            request = deps.profiles.resolve(request)
        except InvalidRequest as exc:
            request = str(exc)
    if isinstance(request, str):
        log.warning("rejected run_job message: %s", request)
        return _rejected(payload.get("job_id"), request)
    assert request.job_id is not None
    given, waits = payload.get(CLAIM_KWARG), payload.get(WAITS_KWARG)
    claimant = given if isinstance(given, str) and given else delivery or task_id
    waits = waits if isinstance(waits, int) and 0 <= waits <= retries else 0
    retries -= waits
    # Every retry of this delivery carries its claim, so it finds the claim its own again.
    again = {**payload, CLAIM_KWARG: claimant, WAITS_KWARG: waits}
    try:
        record = plan_job(deps, request, retries=retries, claimant=claimant)
        if record.status is JobStatus.RUNNING:
            dispatch_once(deps, record, dispatch)
    except JobIdInUse as exc:
        log.warning("rejected run_job message: %s", exc)
        return _rejected(request.job_id, str(exc))
    except RetryLater as exc:
        if exc.kwargs is None:
            waiting = isinstance(exc, (PlanningBusy, batch_planning.WaitingForBatch))
            waited = waits + 1 if waiting else waits
            exc.kwargs = {**again, WAITS_KWARG: waited}
        raise
    except Exception as exc:
        # Redis blips and bugs alike: try again (a redelivery resumes where it stopped), and in
        # the end fail the job on record rather than leave it hanging.
        delay = retry.internal_error_delay_s(retries, deps.settings)
        if delay is not None:
            log.warning("run_job %s hit %s; retrying", request.job_id, type(exc).__name__)
            reason = f"internal error: {type(exc).__name__}"
            raise RetryLater(delay, reason, kwargs=again) from exc
        log.exception("run_job %s failed", request.job_id)
        record = fail_job(deps, request.job_id, f"internal error: {type(exc).__name__}")
    return {"job_id": record.job_id, "status": record.status.value}


def _rejected(job_id: object, reason: str) -> dict[str, Any]:
    shown = job_id if isinstance(job_id, str) and len(job_id) <= limits.MAX_JOB_ID_CHARS else None
    return {"job_id": shown, "status": "rejected", "error": reason}


def dispatch_once(
    deps: TaskDeps, record: JobRecord, dispatch: Callable[[JobRecord], object]
) -> None:
    """Send the chord unless a delivery of this job already has. The mark goes first: a crash
    between it and the send leaves a running job with nothing in flight, which the reconciler
    finds and re-dispatches (the subtasks with no result). A send that raises clears the mark,
    so the retry sends again (a part sent twice is harmless: the first result wins)."""
    if not deps.store.mark_dispatched(record.job_id):
        return
    try:
        dispatch(record)
    except BaseException:
        deps.store.unmark_dispatched(record.job_id)
        raise


def plan_job(deps: TaskDeps, request: JobRequest, *, retries: int, claimant: str) -> JobRecord:
    """Create (or resume) the record and bring it to `running` with a plan, or to `failed`.
    Raises JobIdInUse when the id names a job with another request, and RetryLater while
    another delivery (not `claimant`) holds the job's planning claim."""
    store = deps.store
    assert request.job_id is not None
    # Resumed when submit wrote it first (the usual case: one read); created here for clients
    # that enqueue straight to Celery.
    record = store.find(request.job_id) or store.create(initial_record(request, deps.settings))
    if not same_job(record.request, request):
        raise JobIdInUse(f"job_id {request.job_id!r} already names a different job")
    if record.status is not JobStatus.PLANNING:
        # The same job again (a redelivery, a duplicate): the plan is stored or the job over.
        return record
    settings = deps.settings
    ttl = retry.planning_claim_ttl_s(
        settings, rounds=REPAIR_ROUNDS + 1, throttle_s=settings.rate_limit_window_s + 1
    )
    if request.options.mode == "batch":  # held across the wait for the batch
        ttl += settings.batch_max_wait_s
    if not store.claim_planning(record.job_id, claimant, ttl_s=ttl):
        log.info("planning %s: another delivery holds the claim; waiting", record.job_id)
        raise PlanningBusy(retry.PLANNING_CLAIM_BUSY_S, "another delivery is planning this job")
    spent = Spend()
    try:
        plan = _ask_for_plan(deps, record, spent, attempt=retries + 1)
    except ModelCallError as exc:
        attempt = retries + 1
        delay = retry.next_retry_delay_s(exc.retryable, exc.retry_after_s, attempt, deps.settings)
        if delay is not None:
            log.info("planning %s: retry %d in %.1fs: %s", record.job_id, attempt, delay, exc)
            if spent.usage.total_tokens:
                # Paid for before the failure (a rejected plan): the retry starts over.
                store.update(
                    record.job_id,
                    lambda r: records.with_planning_spend(r, spent.usage, deps.clock()),
                )
            store.count_retry("plan")
            raise RetryLater(delay, exc.message) from exc
        reason = f"planning failed after {attempt} attempt(s): {exc.message}"
        return fail_job(deps, record.job_id, reason, spent.usage)
    except PlanError as exc:
        failed = fail_job(deps, record.job_id, f"planning failed: {exc}", spent.usage)
        return _keep_spend_if_cancelled(deps, failed, spent.usage)
    # The plan's spend and the `planned` event are recorded by the same transaction. The plan
    # was paid for: with the store away, keep it and keep trying rather than plan again. A
    # job under review stops here, in `awaiting_review`, until a person answers
    # (`chorus.orchestrator_service.review`).
    store_plan = review.with_plan_for_review if request.options.review_plan else records.with_plan
    updated, _ = keep_trying(
        lambda: store.update(
            record.job_id, lambda r: store_plan(r, plan, spent.usage, deps.clock())
        ),
        what=f"job {record.job_id}'s plan",
        clock=deps.clock,
        sleep=deps.sleep,
        give_up_at=lambda now: _plan_save_deadline(deps, record, now),
    )
    return _keep_spend_if_cancelled(deps, updated, spent.usage)


def _keep_spend_if_cancelled(deps: TaskDeps, seen: JobRecord, spent: Usage) -> JobRecord:
    """A job cancelled while its planning call was out refuses the plan (or the failure), but
    the call was paid for: its cost goes on the cancelled record and the job's spend, once."""
    if seen.status is not JobStatus.CANCELLED or seen.plan is not None or not spent.total_tokens:
        return seen
    updated, _ = deps.store.update(
        seen.job_id,
        lambda r: records.with_cancelled_planning_spend(
            r, spent, seen.planning_usage, deps.clock()
        ),
    )
    return updated


def _plan_save_deadline(deps: TaskDeps, record: JobRecord, now: datetime) -> datetime:
    bounds = [now + timedelta(seconds=deps.settings.result_save_cap_s)]
    deadline = records.budget_of(record).deadline_at
    if deadline is not None:
        bounds.append(deadline)
    return min(bounds)


@dataclass
class Spend:
    """What this planning attempt has paid for so far, whatever ends it."""

    usage: Usage = field(default_factory=Usage)


def _ask_for_plan(deps: TaskDeps, record: JobRecord, spent: Spend, *, attempt: int = 1) -> Plan:
    request = record.request
    max_tokens = request.options.plan_max_tokens or deps.settings.plan_max_tokens
    feedback: str | None = None
    # Planning on a worker model writes the cache entry the workers read (a repair round too).
    cache = caching.plan_cache(
        request,
        planner_model=record.orchestrator_model,
        worker_models={record.worker_model, *(request.options.tiers or {}).values()},
        overrides=deps.settings.cache_min_tokens,
    )
    for round_no in range(REPAIR_ROUNDS + 1):
        try:
            # Batch mode: the first round through a Message Batch (None: ask directly).
            reply = (
                None
                if round_no
                else batch_planning.planned(
                    deps, record, max_tokens=max_tokens, cache=cache, attempt=attempt
                )
            )
            if reply is None:
                _throttle(deps, record.orchestrator_model, request, max_tokens)
                reply = deps.model.plan(
                    request,
                    model=record.orchestrator_model,
                    max_tokens=max_tokens,
                    feedback=feedback,
                    cache=cache,
                )
            spent.usage = spent.usage + reply.usage
            return validate_plan(reply.draft, request.options.max_subtasks, request.options.tiers)
        except PlanError as exc:
            if exc.usage is not None:  # a reply the model client could not use, still paid
                spent.usage = spent.usage + exc.usage
            if not exc.repairable:
                raise
            if round_no == REPAIR_ROUNDS:
                raise PlanError(f"{exc} (after {REPAIR_ROUNDS} repair round)") from exc
            log.info("plan for %s rejected, asking for a repair: %s", record.job_id, exc)
            feedback = str(exc)
    raise AssertionError("unreachable")


def _throttle(deps: TaskDeps, model: str, request: JobRequest, max_tokens: int) -> None:
    """Planning calls are few, so they wait for a slot in place (up to one window) rather
    than spend a retry attempt; past that they count as a retryable failure."""
    cost = CallCost(estimate_input_tokens(request.task, str(request.context)), max_tokens)
    window = deps.settings.rate_limit_window_s
    wait = wait_for_slot(deps.limiter, model, cost, max_sleep_s=window + 1, sleep=deps.sleep)
    if wait > 0:
        raise ModelCallError("rate limit: no slot for planning", retryable=True, retry_after_s=wait)


def fail_job(deps: TaskDeps, job_id: str, reason: str, usage: Usage | None = None) -> JobRecord:
    record, _ = deps.store.update(
        job_id, lambda r: records.with_failure(r, reason, deps.clock(), usage)
    )
    return record
