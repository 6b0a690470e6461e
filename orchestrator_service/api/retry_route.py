"""`POST /v1/jobs/{job_id}/retry`: run what failed or was skipped again, with the stored plan
(`chorus.core.rerun`). The transition happens here, so the caller learns at once that the
job is unknown (404) or cannot be retried (409, with the reason); the dispatch follows in
`orchestrator.retry_job`.

No `from __future__ import annotations`: FastAPI reads the route's local `Annotated` aliases
at runtime."""

from typing import Annotated, Any

from celery import Celery
from fastapi import Depends, FastAPI, Header, HTTPException, Response
from fastapi import Path as PathParam

from chorus.contract import limits
from chorus.contract.actions import RetryRequest
from chorus.contract.models import JobRecord
from chorus.errors import InvalidTransition
from chorus.orchestrator_service.api.openapi import ErrorBody, errors
from chorus.orchestrator_service.api.ownership import owned_job
from chorus.runtime.enqueue import retry_and_enqueue
from chorus.store.jobs import JobStore

CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorBody,
        "description": "the job is not final (planning, awaiting review or running), had no "
        "plan, or has nothing to retry; `error` says which",
    }
}


def add_retry_routes(api: FastAPI, store: JobStore, celery: Celery, tenant: object) -> None:
    Tenant = Annotated[str, Depends(tenant)]
    JobId = Annotated[str, PathParam(max_length=limits.MAX_JOB_ID_CHARS)]

    @api.post(
        "/v1/jobs/{job_id}/retry",
        status_code=202,
        response_model=JobRecord,
        tags=["jobs"],
        responses={**errors(401, 404, 411, 413, 422, 503), **CONFLICT},
    )
    def retry_job(
        job_id: JobId,
        who: Tenant,
        response: Response,
        body: RetryRequest | None = None,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> JobRecord:
        """Run the subtasks that ended `failed` or `skipped` again, as a new run: the plan
        and the succeeded results stay as they are (their calls are not made or charged
        again). `options` may raise the job's limits for the retry (token and dollar limits
        cover the job's whole spend; the deadline runs from the retry's start). The same
        `Idempotency-Key` again answers with the same run. Answers with the record, now
        `running` (its last entry in `runs` is the retry); follow it like a new job."""
        record = owned_job(store, job_id, who)
        if record is None:
            raise HTTPException(404, f"no job {job_id!r}")
        options = body.options if body is not None else None
        try:
            retried = retry_and_enqueue(celery, store, record.job_id, options, idempotency_key)
        except InvalidTransition as exc:
            raise HTTPException(409, str(exc)) from exc
        response.headers["Location"] = f"/v1/jobs/{retried.job_id}"
        return retried
