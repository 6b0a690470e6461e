"""FastAPI app, versioned under /v1. Errors are JSON with a readable message, never a trace."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from chorus.contract import limits
from chorus.contract.models import JobRecord, JobRequest, JobStatus
from chorus.core.event_cursor import CURSOR_PATTERN
from chorus.core.submission import build_request, fingerprint, same_job, tenant_job_id
from chorus.errors import InvalidRequest, JobIdInUse
from chorus.orchestrator_service.api.auth import parse_tokens, tenant_for
from chorus.orchestrator_service.api.connections import api_connections
from chorus.orchestrator_service.api.console import add_console_routes
from chorus.orchestrator_service.api.event_stream import EventStreams
from chorus.orchestrator_service.api.health_route import add_health_routes
from chorus.orchestrator_service.api.metrics_route import add_metrics_route
from chorus.orchestrator_service.api.openapi import (
    TAGS,
    add_offline_docs,
    bearer,
    errors,
    package_version,
)
from chorus.orchestrator_service.api.ownership import owned_job
from chorus.orchestrator_service.api.profiles_route import add_profile_routes
from chorus.orchestrator_service.api.retry_route import add_retry_routes
from chorus.orchestrator_service.api.review_route import add_review_routes
from chorus.orchestrator_service.api.store_errors import add_store_error_handlers
from chorus.orchestrator_service.api.webhook_check import check_webhook
from chorus.runtime.enqueue import record_and_enqueue
from chorus.runtime.profiles import load_profiles
from chorus.settings import Settings

log = logging.getLogger(__name__)


class JobAccepted(BaseModel):
    job_id: str
    status: JobStatus
    location: str


class JobPage(BaseModel):
    jobs: list[JobRecord]
    next_cursor: str | None


class HttpProblem(Exception):
    """Answered as JSON `{"error": message}` with its status."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self.status, self.message, self.headers = status, message, headers


def create_api(settings: Settings) -> FastAPI:
    tokens = parse_tokens(settings.api_tokens)
    profiles = load_profiles(settings)  # ConfigError naming the file and field: no start
    connections = api_connections(settings)
    store, celery = connections.store, connections.celery
    streams = EventStreams(connections.events)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await connections.close()

    api = FastAPI(
        title="Chorus API",
        version=package_version(),
        lifespan=lifespan,
        openapi_tags=TAGS,
        docs_url=None,  # served by add_offline_docs, from local files
        redoc_url=None,
    )

    @api.middleware("http")
    async def cap_body_size(request: Request, call_next: Any) -> Response:
        length = request.headers.get("content-length")
        if length is None and "transfer-encoding" in request.headers:
            # A chunked body would slip past the size check: ask for a length instead. A
            # request with neither header has no body (`curl -X POST …/cancel`) and passes.
            return JSONResponse({"error": "Content-Length required"}, status_code=411)
        if length and (not length.isdigit() or int(length) > settings.api_max_body_bytes):
            limit = settings.api_max_body_bytes
            return JSONResponse({"error": f"body over {limit} bytes"}, status_code=413)
        response: Response = await call_next(request)
        return response

    @api.exception_handler(HttpProblem)
    async def api_error(_: Request, exc: HttpProblem) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)

    @api.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {
                "field": ".".join(str(p) for p in e["loc"] if p != "body") or "body",
                "message": str(e["msg"]).removeprefix("Value error, "),
            }
            for e in exc.errors()
        ]
        message = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        return JSONResponse({"error": message, "fields": fields}, status_code=422)

    @api.exception_handler(InvalidRequest)
    async def refused(_: Request, exc: InvalidRequest) -> JSONResponse:
        return JSONResponse({"error": str(exc), "fields": exc.fields}, status_code=422)

    @api.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    add_store_error_handlers(api)

    @api.exception_handler(Exception)
    async def crashed(_: Request, exc: Exception) -> JSONResponse:
        log.error("API request failed: %s", type(exc).__name__)
        return JSONResponse({"error": "internal error"}, status_code=500)

    def tenant(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> str:
        given = f"Bearer {credentials.credentials}" if credentials else None
        found = tenant_for(tokens, given)
        if found is None:
            raise HttpProblem(
                401, "missing or invalid bearer token", {"WWW-Authenticate": "Bearer"}
            )
        return found

    Tenant = Annotated[str, Depends(tenant)]
    JobId = Annotated[str, PathParam(max_length=limits.MAX_JOB_ID_CHARS)]

    def owned(job_id: str, who: str) -> JobRecord:
        record = owned_job(store, job_id, who)
        if record is None:
            raise HttpProblem(404, f"no job {job_id!r}")
        return record

    @api.post(
        "/v1/jobs",
        status_code=202,
        response_model=JobAccepted,
        tags=["jobs"],
        responses=errors(401, 409, 411, 413, 422, 503),
    )
    def create_job(
        body: JobRequest,
        response: Response,
        who: Tenant,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> JobAccepted:
        # Only what the caller set: a profile's fields are the defaults of the rest.
        payload = {**body.model_dump(exclude_unset=True), "tenant": who}
        if body.job_id:
            # A chosen id is the caller's own: another tenant's same choice is another job,
            # and nothing here tells whether it exists.
            payload["job_id"] = tenant_job_id(who, body.job_id)
        given = build_request(payload)
        request = profiles.resolve(given, inline_allowed=settings.inline_prompts)
        check_webhook(request, settings)  # resolved: a profile's webhook is checked too
        assert request.job_id is not None
        job_id = request.job_id
        if idempotency_key:
            printed = fingerprint(request)
            bound_id, bound_print = store.claim_idempotency_key(
                who, idempotency_key, job_id, printed
            )
            if bound_print != printed:
                raise HttpProblem(409, "Idempotency-Key already used with a different body")
            if bound_id != job_id:
                return _accepted(response, owned(bound_id, who))
        existing = store.find(job_id)
        if existing is not None:
            if not same_job(existing.request, request):
                raise HttpProblem(409, f"job_id {body.job_id or job_id!r} is already in use")
            return _accepted(response, existing)
        try:
            return _accepted(response, record_and_enqueue(celery, store, settings, request))
        except JobIdInUse as exc:  # another request took the id since the check above
            raise HttpProblem(409, f"job_id {body.job_id or job_id!r} is already in use") from exc

    def _accepted(response: Response, record: JobRecord) -> JobAccepted:
        location = f"/v1/jobs/{record.job_id}"
        response.headers["Location"] = location
        return JobAccepted(job_id=record.job_id, status=record.status, location=location)

    @api.get(
        "/v1/jobs/{job_id}",
        response_model=JobRecord,
        tags=["jobs"],
        responses=errors(401, 404, 422, 503),
    )
    def get_job(job_id: JobId, who: Tenant) -> JobRecord:
        return owned(job_id, who)

    @api.post(
        "/v1/jobs/{job_id}/cancel",
        response_model=JobRecord,
        tags=["jobs"],
        responses=errors(401, 404, 411, 413, 422, 503),
    )
    def cancel_route(job_id: JobId, who: Tenant) -> JobRecord:
        """Idempotent: a job already over is returned as it is."""
        return store.cancel(owned(job_id, who).job_id)[0]

    @api.get(
        "/v1/jobs/{job_id}/events",
        response_class=StreamingResponse,
        tags=["events"],
        responses=errors(401, 404, 422, 503),
    )
    async def job_events(
        job_id: JobId,
        who: Tenant,
        last_event_id: Annotated[str | None, Header(pattern=CURSOR_PATTERN)] = None,
        deltas: bool = True,
    ) -> Response:
        """Server-Sent Events from the job's stream, the workers' text as `subtask_delta`
        events included unless `deltas=false`; reconnect with `Last-Event-ID` to resume
        (`event_stream.py`: what an open stream costs, and 503 when too many are open)."""
        record = await run_in_threadpool(owned, job_id, who)
        return streams.response(record, last_event_id, deltas=deltas)

    @api.get("/v1/jobs", response_model=JobPage, tags=["jobs"], responses=errors(401, 422, 503))
    def list_jobs(
        who: Tenant,
        status: JobStatus | None = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Query(pattern=r"^\d+(\.\d+)?$")] = None,
    ) -> JobPage:
        jobs: list[JobRecord] = []
        before = float(cursor) if cursor else None
        # Scan newest first in pages until the page is full or the index runs out; a sparse
        # status filter stops after a bounded scan and hands back a cursor to go on from.
        rows: list[tuple[str, float]] = []
        for _ in range(20):
            rows = store.recent_jobs(limit, tenant=who, before=before)
            for job_id, created in rows:
                before = created
                record = store.find(job_id)
                if record and (status is None or record.status is status):
                    jobs.append(record)
                    if len(jobs) == limit:
                        return JobPage(jobs=jobs, next_cursor=repr(created))
            if len(rows) < limit:
                break
        more = len(rows) == limit and before is not None
        return JobPage(jobs=jobs, next_cursor=repr(before) if more else None)

    add_health_routes(api, connections.probe, celery)
    add_metrics_route(api, settings)
    add_profile_routes(api, profiles, tenant)
    add_retry_routes(api, store, celery, tenant)
    add_review_routes(api, store, celery, tenant)
    add_offline_docs(api)
    add_console_routes(api, tokens, store, streams, flower_url=settings.flower_url, celery=celery)
    return api
