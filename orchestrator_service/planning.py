"""The planning step of `orchestrator.run_job`: record the job, ask for a plan, store it, and
hand the record to the dispatcher.

Transient model failures ask for a retry (`RetryLater`), so a job waiting out a 529 holds no
worker slot. A plan that breaks the rules gets one repair round in which the model sees the
validation error; then the job fails with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pydantic

from chorus.contract.models import (
    JobRecord,
    JobRequest,
    JobStatus,
    Plan,
    Usage,
    describe_validation_error,
)
from chorus.core import records, retry
from chorus.core.ports import TaskDeps
from chorus.core.rates import CallCost, estimate_input_tokens, wait_for_slot
from chorus.core.submission import initial_record
from chorus.errors import InvalidRequest, ModelCallError, PlanError, RetryLater
from chorus.orchestrator_service.plan_rules import validate_plan

log = logging.getLogger(__name__)

REPAIR_ROUNDS = 1


def parse_request(payload: dict[str, Any], *, fallback_job_id: str) -> JobRequest | str:
    """The validated request (job_id filled in), or a one-line reason it was rejected."""
    try:
        request = JobRequest.model_validate(payload)
    except pydantic.ValidationError as exc:
        return describe_validation_error(exc)
    return request if request.job_id else request.model_copy(update={"job_id": fallback_job_id})


def run_job(
    deps: TaskDeps,
    payload: dict[str, Any],
    *,
    task_id: str,
    retries: int,
    dispatch: Callable[[JobRecord], object],
) -> dict[str, Any]:
    """Plan the job and fan its subtasks out through `dispatch`. Returns {job_id, status}."""
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
        return {"job_id": payload.get("job_id"), "status": "rejected", "error": request}
    assert request.job_id is not None
    try:
        record = plan_job(deps, request, retries=retries)
        if record.status is JobStatus.RUNNING:
            dispatch(record)
    except RetryLater:
        raise
    except Exception as exc:
        # Redis blips and bugs alike: try again (a redelivery resumes where it stopped), and in
        # the end fail the job on record rather than leave it hanging.
        delay = retry.internal_error_delay_s(retries, deps.settings)
        if delay is not None:
            log.warning("run_job %s hit %s; retrying", request.job_id, type(exc).__name__)
            raise RetryLater(delay, f"internal error: {type(exc).__name__}") from exc
        log.exception("run_job %s failed", request.job_id)
        record = fail_job(deps, request.job_id, f"internal error: {type(exc).__name__}")
    return {"job_id": record.job_id, "status": record.status.value}


def plan_job(deps: TaskDeps, request: JobRequest, *, retries: int) -> JobRecord:
    """Create (or resume) the record and bring it to `running` with a plan, or to `failed`."""
    store = deps.store
    assert request.job_id is not None
    # Resumed when submit wrote it first (the usual case: one read); created here for clients
    # that enqueue straight to Celery.
    record = store.find(request.job_id) or store.create(initial_record(request, deps.settings))
    if record.status is not JobStatus.PLANNING:
        # A redelivered message: the plan is already stored (or the job is over).
        return record
    spent = Spend()
    try:
        plan = _ask_for_plan(deps, record, spent)
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
        return fail_job(deps, record.job_id, f"planning failed: {exc}", spent.usage)
    # The plan's spend and the `planned` event are recorded by the same transaction.
    updated, _ = store.update(
        record.job_id, lambda r: records.with_plan(r, plan, spent.usage, deps.clock())
    )
    return updated


@dataclass
class Spend:
    """What this planning attempt has paid for so far, whatever ends it."""

    usage: Usage = field(default_factory=Usage)


def _ask_for_plan(deps: TaskDeps, record: JobRecord, spent: Spend) -> Plan:
    request = record.request
    max_tokens = request.options.plan_max_tokens or deps.settings.plan_max_tokens
    feedback: str | None = None
    for round_no in range(REPAIR_ROUNDS + 1):
        _throttle(deps, record.orchestrator_model, request, max_tokens)
        try:
            reply = deps.model.plan(
                request, model=record.orchestrator_model, max_tokens=max_tokens, feedback=feedback
            )
            spent.usage = spent.usage + reply.usage
            return validate_plan(reply.draft, request.options.max_subtasks, request.options.tiers)
        except PlanError as exc:
            if exc.usage is not None:  # a reply the model client could not use, still paid
                spent.usage = spent.usage + exc.usage
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
