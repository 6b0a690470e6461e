"""`POST /v1/jobs/{job_id}/plan`: answer a plan awaiting review (options.review_plan).

The answer is applied here, at once, so a wrong one is refused in the reply (409 when the job
is not awaiting review, 422 naming the rule an edited plan breaks); an approved plan's
subtasks are then sent by the orchestrator, resumed from the record by `orchestrator.run_job`
(it dispatches a running job's chord once). Were that message lost, the reconciler finds the
running job with nothing in flight and sends the subtasks itself."""

from collections.abc import Callable
from typing import Annotated

from celery import Celery
from fastapi import Depends, FastAPI
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from chorus.contract import limits
from chorus.contract.actions import PlanReview
from chorus.contract.models import JobRecord, JobStatus
from chorus.core import records
from chorus.errors import InvalidTransition, JobNotFound
from chorus.orchestrator_service.api.openapi import errors
from chorus.orchestrator_service.api.ownership import owned_job
from chorus.orchestrator_service.review import review_plan
from chorus.runtime.enqueue import enqueue_job
from chorus.store.jobs import JobStore


def add_review_routes(
    api: FastAPI, store: JobStore, celery: Celery, tenant: Callable[..., str]
) -> None:
    Tenant = Annotated[str, Depends(tenant)]
    JobId = Annotated[str, PathParam(max_length=limits.MAX_JOB_ID_CHARS)]

    @api.post(
        "/v1/jobs/{job_id}/plan",
        response_model=JobRecord,
        tags=["jobs"],
        responses=errors(401, 404, 409, 411, 413, 422, 503),
    )
    def review_route(job_id: JobId, body: PlanReview, who: Tenant) -> JobRecord | JSONResponse:
        """Answer a plan awaiting review with exactly one of `{"approve": true}`, an edited
        `{"plan": {"subtasks": [...]}}` (checked by the same rules as a model's plan) or
        `{"reject": true, "reason": "..."}`. Returns the record: `running` (its subtasks are on
        their way) or `cancelled`."""
        record = owned_job(store, job_id, who)
        if record is None:
            return JSONResponse({"error": f"no job {job_id!r}"}, 404)
        try:
            updated = review_plan(store, record.job_id, body, records.utc_now())
        except InvalidTransition as exc:
            return JSONResponse({"error": str(exc)}, 409)
        except JobNotFound:  # expired since the read above
            return JSONResponse({"error": f"no job {job_id!r}"}, 404)
        if updated.status is JobStatus.RUNNING:
            enqueue_job(celery, updated.request)
        return updated
