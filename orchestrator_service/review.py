"""A person's answer to a plan awaiting review (options.review_plan): approve it, edit it, or
reject it. One code path for `POST /v1/jobs/{id}/plan` and the Celery task
`orchestrator.review_plan`: the transition is applied here; the subtasks then go out once
(`planning.dispatch_once`), whichever message sends them.

An edited plan meets the same rules as a model's (`plan_rules.validate_plan`), so a reviewer
cannot run what a model would not be allowed to."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pydantic

from chorus.contract.actions import EditedPlan, PlanReview
from chorus.contract.models import (
    JobRecord,
    JobStatus,
    Plan,
    describe_validation_error,
    job_id_problem,
)
from chorus.contract.plans import PlanDraft, SubtaskDraft
from chorus.core import review as transitions
from chorus.core.ports import JobStorePort, TaskDeps
from chorus.errors import InvalidRequest, InvalidTransition, JobNotFound, PlanError
from chorus.orchestrator_service.plan_rules import validate_plan
from chorus.orchestrator_service.planning import dispatch_once

log = logging.getLogger(__name__)


class ReviewedSubtask(SubtaskDraft):
    """A reviewer's subtask: it may name a tier (checked against the job's tiers)."""

    tier: str | None = None


def edited_plan(record: JobRecord, edited: EditedPlan) -> Plan:
    """The reviewer's plan, validated by the job's own limits; InvalidRequest names the rule
    it breaks. The analysis stays the model's unless the reviewer wrote one."""
    analysis = edited.analysis if edited.analysis is not None else _analysis(record)
    subtasks = [
        ReviewedSubtask(type=s.type, description=s.description, tier=s.tier)
        for s in edited.subtasks
    ]
    draft = PlanDraft(analysis=analysis, subtasks=subtasks)
    options = record.request.options
    try:
        return validate_plan(draft, options.max_subtasks, options.tiers)
    except PlanError as exc:
        message = f"plan: {exc}"
        raise InvalidRequest(message, [{"field": "plan", "message": str(exc)}]) from exc


def _analysis(record: JobRecord) -> str:
    return record.plan.analysis if record.plan is not None else ""


def review_plan(store: JobStorePort, job_id: str, review: PlanReview, now: datetime) -> JobRecord:
    """Apply the answer and return the record (running, or cancelled for a rejection).
    Raises JobNotFound, InvalidTransition (the job is not awaiting review) or InvalidRequest
    (an edited plan that breaks a rule)."""
    record = store.find(job_id)
    if record is None:
        raise JobNotFound(job_id)
    if record.status is not JobStatus.AWAITING_REVIEW:
        raise InvalidTransition(f"job is {record.status.value}, not awaiting review")
    change: Callable[[JobRecord], JobRecord]
    if review.plan is not None:
        plan = edited_plan(record, review.plan)
        change = lambda r: transitions.with_review(r, "edited", now, plan=plan)  # noqa: E731
    elif review.approve:
        change = lambda r: transitions.with_review(r, "approved", now)  # noqa: E731
    else:
        change = lambda r: transitions.with_review(r, "rejected", now, reason=review.reason)  # noqa: E731
    updated, changed = store.update(job_id, change)
    if not changed:  # answered (or cancelled) since the read above
        raise InvalidTransition(f"job is {updated.status.value}, not awaiting review")
    return updated


def run_review_task(
    deps: TaskDeps, payload: dict[str, Any], dispatch: Callable[[JobRecord], object]
) -> dict[str, Any]:
    """`orchestrator.review_plan`: kwargs are PlanReview's fields plus job_id. Answers
    {job_id, status} or {job_id, status: "rejected", error}. Idempotent: a redelivery finds
    the job answered and only makes sure an approved plan went out."""
    job_id = payload.get("job_id")
    if not isinstance(job_id, str) or not job_id:
        return _refused(None, "job_id: required")
    problem = job_id_problem(job_id)
    if problem is not None:  # no key is built from it
        return _refused(None, f"job_id: {problem}")
    try:
        review = PlanReview.model_validate({k: v for k, v in payload.items() if k != "job_id"})
        record = review_plan(deps.store, job_id, review, deps.clock())
    except pydantic.ValidationError as exc:
        return _refused(job_id, describe_validation_error(exc))
    except (InvalidRequest, JobNotFound) as exc:
        return _refused(job_id, str(exc))
    except InvalidTransition as exc:
        found = deps.store.find(job_id)
        if found is None or not _answered_so(found, review):
            return _refused(job_id, str(exc))
        record = found  # a redelivery: the answer is on record; the chord may not be
    if record.status is JobStatus.RUNNING:
        dispatch_once(deps, record, dispatch)
    return {"job_id": job_id, "status": record.status.value}


def _answered_so(record: JobRecord, review: PlanReview) -> bool:
    """The job runs on this same kind of answer already (approved, or edited)."""
    wanted = "edited" if review.plan is not None else "approved" if review.approve else None
    return (
        record.status is JobStatus.RUNNING
        and record.review is not None
        and record.review.decision == wanted
    )


def _refused(job_id: str | None, reason: str) -> dict[str, Any]:
    log.warning("rejected review_plan message: %s", reason)
    return {"job_id": job_id, "status": "rejected", "error": reason}
