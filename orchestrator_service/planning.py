"""The planning step of `orchestrator.run_job`: record the job, ask for a plan, store it.

Transient model failures are retried through Celery (`task.retry` with a countdown), so a
job waiting out a 529 holds no worker slot. A plan that breaks the rules gets one repair
round in which the model sees the validation error; then the job fails with the reason.
"""

from __future__ import annotations

import logging
from typing import Any

import pydantic

from orchestrator_service.plan_rules import validate_plan
from shared import records
from shared.celery_app import ChorusCelery
from shared.errors import ModelCallError, PlanError
from shared.models import JobRecord, JobRequest, JobStatus, Plan, Usage, describe_validation_error
from shared.rate_limiter import CallCost, estimate_input_tokens, wait_for_slot
from shared.retry_policy import next_retry_delay_s
from shared.submission import initial_record

log = logging.getLogger(__name__)

REPAIR_ROUNDS = 1


def parse_request(payload: dict[str, Any], *, fallback_job_id: str) -> JobRequest | str:
    """The validated request (job_id filled in), or a one-line reason it was rejected."""
    try:
        request = JobRequest.model_validate(payload)
    except pydantic.ValidationError as exc:
        return describe_validation_error(exc)
    return request if request.job_id else request.model_copy(update={"job_id": fallback_job_id})


def plan_job(task: Any, app: ChorusCelery, request: JobRequest) -> JobRecord:
    """Create (or resume) the record and bring it to `running` with a plan, or to `failed`."""
    settings = app.settings
    store = app.job_store
    assert request.job_id is not None
    # Resumed when submit_job wrote it first (the usual case: one read); created here for
    # clients that enqueue straight to Celery.
    record = store.find(request.job_id) or store.create(initial_record(request, settings))
    if record.status is not JobStatus.PLANNING:
        # A redelivered message: the plan is already stored (or the job is over).
        return record
    try:
        plan, usage = _ask_for_plan(app, record)
    except ModelCallError as exc:
        attempt = task.request.retries + 1
        delay = next_retry_delay_s(exc.retryable, exc.retry_after_s, attempt, settings)
        if delay is not None:
            log.info("planning %s: retry %d in %.1fs: %s", record.job_id, attempt, delay, exc)
            store.count_retry("plan")
            raise task.retry(countdown=delay, exc=exc) from exc
        reason = f"planning failed after {attempt} attempt(s): {exc.message}"
        return fail_job(app, record.job_id, reason, Usage())
    except PlanError as exc:
        return fail_job(app, record.job_id, f"planning failed: {exc}", exc.usage or Usage())
    # The plan's spend and the `planned` event are recorded by the same transaction.
    updated, _ = store.update(
        record.job_id, lambda r: records.with_plan(r, plan, usage, records.utc_now())
    )
    return updated


def _ask_for_plan(app: ChorusCelery, record: JobRecord) -> tuple[Plan, Usage]:
    request = record.request
    max_tokens = request.options.plan_max_tokens or app.settings.plan_max_tokens
    usage = Usage()
    feedback: str | None = None
    for round_no in range(REPAIR_ROUNDS + 1):
        _throttle(app, record.orchestrator_model, request, max_tokens)
        try:
            reply = app.model_client.plan(
                request, model=record.orchestrator_model, max_tokens=max_tokens, feedback=feedback
            )
            usage = usage + reply.usage
            return validate_plan(reply.draft, request.options.max_subtasks), usage
        except PlanError as exc:
            if round_no == REPAIR_ROUNDS:
                reason = f"{exc} (after {REPAIR_ROUNDS} repair round)"
                raise PlanError(reason, usage=usage) from exc
            log.info("plan for %s rejected, asking for a repair: %s", record.job_id, exc)
            feedback = str(exc)
    raise AssertionError("unreachable")


def _throttle(app: ChorusCelery, model: str, request: JobRequest, max_tokens: int) -> None:
    """Planning calls are few, so they wait for a slot in place (up to one window) rather
    than spend a retry attempt; past that they count as a retryable failure."""
    cost = CallCost(estimate_input_tokens(request.task, str(request.context)), max_tokens)
    window = app.settings.rate_limit_window_s
    wait = wait_for_slot(app.rate_limiter, model, cost, max_sleep_s=window + 1)
    if wait > 0:
        raise ModelCallError("rate limit: no slot for planning", retryable=True, retry_after_s=wait)


def fail_job(app: ChorusCelery, job_id: str, reason: str, usage: Usage | None = None) -> JobRecord:
    record, _ = app.job_store.update(
        job_id, lambda r: records.with_failure(r, reason, records.utc_now(), usage)
    )
    return record
