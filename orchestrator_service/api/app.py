"""FastAPI app, versioned under /v1. Errors are JSON with a readable message, never a trace."""

import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from chorus.contract import limits
from chorus.contract.models import JobRecord, JobRequest, JobStatus
from chorus.core.submission import build_request
from chorus.errors import InvalidRequest
from chorus.orchestrator_service.api.auth import parse_tokens, tenant_for
from chorus.orchestrator_service.api.metrics_route import add_metrics_route
from chorus.orchestrator_service.api.profiles_route import add_profile_routes
from chorus.runtime.app import create_celery_app
from chorus.runtime.enqueue import record_and_enqueue
from chorus.runtime.profiles import load_profiles
from chorus.settings import Settings
from chorus.store.connection import async_redis_client
from chorus.store.events import AsyncJobEvents
from chorus.store.jobs import JobStore

log = logging.getLogger(__name__)

STREAM_MAX_S = 3600  # a client following longer reconnects with Last-Event-ID


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


def _fingerprint(request: JobRequest) -> str:
    body = request.model_dump_json(exclude={"job_id", "tenant"})
    return hashlib.sha256(body.encode()).hexdigest()


def create_api(settings: Settings) -> FastAPI:
    tokens = parse_tokens(settings.api_tokens)
    profiles = load_profiles(settings)  # ConfigError naming the file and field: no start
    store = JobStore.from_settings(settings)
    celery = create_celery_app(settings)
    events = AsyncJobEvents(
        async_redis_client(settings, max_connections=limits.API_STREAM_CONNECTIONS)
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await events.close()

    api = FastAPI(title="Chorus API", version="1.0.0", lifespan=lifespan)

    @api.middleware("http")
    async def cap_body_size(request: Request, call_next: Any) -> Response:
        length = request.headers.get("content-length")
        if length is None and request.method in ("POST", "PUT", "PATCH"):
            # A chunked body would slip past the size check: ask for a length instead.
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

    @api.exception_handler(Exception)
    async def crashed(_: Request, exc: Exception) -> JSONResponse:
        log.error("API request failed: %s", type(exc).__name__)
        return JSONResponse({"error": "internal error"}, status_code=500)

    def tenant(authorization: Annotated[str | None, Header()] = None) -> str:
        found = tenant_for(tokens, authorization)
        if found is None:
            raise HttpProblem(
                401, "missing or invalid bearer token", {"WWW-Authenticate": "Bearer"}
            )
        return found

    Tenant = Annotated[str, Depends(tenant)]

    def owned(job_id: str, who: str) -> JobRecord:
        record = store.find(job_id)
        if record is None or record.request.tenant != who:
            raise HttpProblem(404, f"no job {job_id!r}")  # another tenant's job does not exist
        return record

    @api.post("/v1/jobs", status_code=202, response_model=JobAccepted)
    def create_job(
        body: JobRequest,
        response: Response,
        who: Tenant,
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> JobAccepted:
        # Only what the caller set: a profile's fields are the defaults of the rest.
        given = build_request({**body.model_dump(exclude_unset=True), "tenant": who})
        request = profiles.resolve(given, inline_allowed=settings.inline_prompts)
        assert request.job_id is not None
        job_id = request.job_id
        if idempotency_key:
            fingerprint = _fingerprint(request)
            bound_id, bound_print = store.claim_idempotency_key(
                who, idempotency_key, job_id, fingerprint
            )
            if bound_print != fingerprint:
                raise HttpProblem(409, "Idempotency-Key already used with a different body")
            if bound_id != job_id:
                return _accepted(response, owned(bound_id, who))
        existing = store.find(job_id)
        if existing is not None:
            if existing.request.tenant != who or _fingerprint(existing.request) != _fingerprint(
                request
            ):
                raise HttpProblem(409, f"job_id {job_id!r} is already in use")
            return _accepted(response, existing)
        return _accepted(response, record_and_enqueue(celery, store, settings, request))

    def _accepted(response: Response, record: JobRecord) -> JobAccepted:
        location = f"/v1/jobs/{record.job_id}"
        response.headers["Location"] = location
        return JobAccepted(job_id=record.job_id, status=record.status, location=location)

    @api.get("/v1/jobs/{job_id}", response_model=JobRecord)
    def get_job(job_id: str, who: Tenant) -> JobRecord:
        return owned(job_id, who)

    @api.post("/v1/jobs/{job_id}/cancel", response_model=JobRecord)
    def cancel_route(job_id: str, who: Tenant) -> JobRecord:
        """Idempotent: a job already over is returned as it is."""
        owned(job_id, who)
        return store.cancel(job_id)[0]

    @api.get("/v1/jobs/{job_id}/events", response_class=StreamingResponse)
    async def job_events(
        job_id: str,
        who: Tenant,
        last_event_id: Annotated[str | None, Header(pattern=r"^\d+-\d+$")] = None,
    ) -> StreamingResponse:
        """Server-Sent Events from the job's stream; reconnect with `Last-Event-ID` to resume.

        Followers wait on the event loop, not in the request thread pool: every `Client.wait`
        is one open stream, and a pool thread each would soon leave none for other requests."""
        await run_in_threadpool(owned, job_id, who)

        async def stream() -> AsyncIterator[str]:
            after = last_event_id or "0"
            deadline = time.monotonic() + STREAM_MAX_S
            while time.monotonic() < deadline:
                # Read the status first: a job already final has all its events in the stream.
                was_final = await events.over(job_id)
                batch = await events.read(job_id, after, block_ms=1000)
                if not batch:
                    if was_final:
                        return  # nothing more will come
                    yield ": keep-alive\n\n"
                    continue
                for event in batch:
                    after = event.id
                    payload = json.dumps(event.data)
                    yield f"id: {event.id}\nevent: {event.kind.value}\ndata: {payload}\n\n"
                    if event.kind.is_last:
                        return

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    @api.get("/v1/jobs", response_model=JobPage)
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

    @api.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/readyz")
    def readyz() -> JSONResponse:
        checks = {"redis": False, "orchestrator": False, "worker": False}
        try:
            checks["redis"] = store.ping()
            queues = celery.control.inspect(timeout=1.0).active_queues() or {}
            names = {q["name"] for consumers in queues.values() for q in consumers}
            checks["orchestrator"] = "orchestrator" in names
            checks["worker"] = "subtasks" in names
        except Exception as exc:
            log.warning("readiness check failed: %s", type(exc).__name__)
        ready = all(checks.values())
        return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)

    add_metrics_route(api, settings)
    add_profile_routes(api, profiles, tenant)
    return api
