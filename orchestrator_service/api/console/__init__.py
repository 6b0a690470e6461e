"""The Chorus console: server-rendered pages under /ui on the API's own process and store.

Signed in with an API token (kept in an HttpOnly cookie), a tenant sees and cancels its own
jobs, by the same ownership rule as `/v1/jobs/{id}`. Pages are plain HTML with one CSS and
one JS file served from this package: nothing is loaded from another host.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from importlib.resources import files
from urllib.parse import quote

from celery import Celery
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from chorus.contract.models import JobRecord, JobStatus
from chorus.core.event_cursor import CURSOR_PATTERN
from chorus.orchestrator_service.api.console import pages
from chorus.orchestrator_service.api.console.fleet import add_fleet_route
from chorus.orchestrator_service.api.console.review import add_console_review_route
from chorus.orchestrator_service.api.console.security import (
    LOGIN,
    Sessions,
    add_headers,
    clear_session,
    csrf_ok,
    csrf_token,
    form,
    set_session,
)
from chorus.orchestrator_service.api.event_stream import EventStreams
from chorus.orchestrator_service.api.ownership import owned_job
from chorus.store.jobs import JobStore

PAGE_SIZE = 50
SCAN_LIMIT = 500  # jobs read for the counts and the text filter: a bounded cost per page
STATIC = {"console.css": "text/css", "console.js": "text/javascript"}
EVENT_ID = re.compile(CURSOR_PATTERN)  # an event's id, as the API's Last-Event-ID header


def scan(
    store: JobStore, who: str, before: float | None
) -> Iterator[tuple[JobRecord | None, float]]:
    """The tenant's jobs, newest first from `before`, at most SCAN_LIMIT: a bounded cost per
    page. A record gone meanwhile (expired) comes as None but still counts toward the bound."""
    scanned = 0
    while scanned < SCAN_LIMIT:
        rows = store.recent_jobs(min(100, SCAN_LIMIT - scanned), tenant=who, before=before)
        for job_id, created in rows:
            before, scanned = created, scanned + 1
            yield store.find(job_id), created
        if len(rows) < 100:
            return


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status)


def _not_found(job_id: str) -> HTMLResponse:
    return _html(pages.message_page("Not found", f"No job {job_id!r}."), 404)


def add_console_routes(
    api: FastAPI,
    tokens: dict[str, str],
    store: JobStore,
    streams: EventStreams,
    flower_url: str | None = None,
    celery: Celery | None = None,
) -> None:
    sessions = Sessions(tokens, secrets.token_bytes(32))
    if celery is not None:  # the job page's Approve / Reject buttons send what they approve
        add_console_review_route(api, sessions, store, celery)
    assets = {name: (files(__name__) / name).read_bytes() for name in STATIC}
    add_fleet_route(api, sessions.tenant, store.client)

    @api.middleware("http")
    async def console_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if request.url.path == "/ui" or request.url.path.startswith("/ui/"):
            add_headers(response)
        return response

    def signed_in(request: Request) -> str | None:
        return sessions.tenant(request)

    def to_login() -> Response:
        return RedirectResponse("/ui/login", status_code=303)

    @api.get("/ui/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in STATIC:
            return _html(pages.message_page("Not found", "No such file."), 404)
        return Response(assets[name], media_type=STATIC[name])

    @api.get("/ui/login", include_in_schema=False)
    def login_form(request: Request) -> Response:
        if sessions.open or signed_in(request):
            return RedirectResponse("/ui", status_code=303)
        return _html(pages.login_page(csrf_token(sessions.secret, LOGIN)))

    @api.post("/ui/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        fields = await form(request)
        if not csrf_ok(sessions.secret, LOGIN, fields.get("csrf")):
            return _html(pages.message_page("Forbidden", "Stale or missing form token."), 403)
        if sessions.open:
            return RedirectResponse("/ui", status_code=303)
        token = fields.get("token", "").strip()
        if not token or sessions.sign_in(token) is None:
            again = pages.login_page(csrf_token(sessions.secret, LOGIN), "Unknown token.")
            return _html(again, 401)
        response = RedirectResponse("/ui", status_code=303)
        set_session(response, request, token)
        return response

    @api.get("/ui/logout", include_in_schema=False)
    def logout(request: Request) -> Response:
        response = RedirectResponse("/ui/login", status_code=303)
        clear_session(response, request)
        return response

    @api.get("/ui", include_in_schema=False)
    def jobs(
        request: Request,
        status: str = "",
        q: str = "",
        profile: str = "",
        id: str = "",  # the query parameter's name: `?id=` opens a job
        before: str = "",
    ) -> Response:
        who = signed_in(request)
        if who is None:
            return to_login()
        if id.strip():
            return RedirectResponse(f"/ui/jobs/{quote(id.strip(), safe='')}", status_code=303)
        wanted = JobStatus(status) if status in set(JobStatus) else None
        try:
            cursor: float | None = float(before) if before else None
        except ValueError:
            cursor = None
        text = q.strip().lower()
        counts: dict[JobStatus, int] = {}
        profiles: set[str] = set()
        shown: list[JobRecord] = []
        next_before: float | None = None
        last_shown, scanned = 0.0, 0
        for record, created in scan(store, who, cursor):
            cursor, scanned = created, scanned + 1
            if record is None:
                continue
            counts[record.status] = counts.get(record.status, 0) + 1
            named = record.request.options.profile
            profiles.update([named] if named else [])
            if (
                (wanted is None or record.status is wanted)
                and (not profile or named == profile)
                and text in record.request.task.lower()
            ):
                if len(shown) < PAGE_SIZE:
                    shown.append(record)
                    last_shown = created
                elif next_before is None:
                    next_before = last_shown
        if scanned >= SCAN_LIMIT and next_before is None:
            # The scan stopped at its bound: older jobs may match, go on from where it stopped.
            next_before = cursor
        body = pages.jobs_page(
            shown, counts, status=wanted, text=q.strip(), next_before=next_before,
            scanned=scanned, now=datetime.now(UTC), profile=profile, live=not before,
            profiles=sorted(profiles | ({profile} if profile else set())),
        )  # fmt: skip
        return _html(body)

    @api.get("/ui/counts", include_in_schema=False)
    def live_counts(request: Request) -> Response:
        """The jobs page's counts by status, newest SCAN_LIMIT jobs, for console.js to poll."""
        who = signed_in(request)
        if who is None:
            return Response(status_code=401)
        counts = dict.fromkeys((s.value for s in JobStatus), 0)
        for record, _created in scan(store, who, None):
            if record is not None:
                counts[record.status.value] += 1
        return JSONResponse(counts)

    @api.get("/ui/jobs/{job_id}", include_in_schema=False)
    def job(request: Request, job_id: str) -> Response:
        who = signed_in(request)
        if who is None:
            return to_login()
        record = owned_job(store, job_id, who)
        if record is None:
            return _not_found(job_id)
        csrf = sessions.csrf(request)
        return _html(pages.job_page(record, csrf, datetime.now(UTC), flower_url=flower_url))

    @api.get("/ui/jobs/{job_id}/timeline", include_in_schema=False)
    def timeline(request: Request, job_id: str) -> Response:
        who = signed_in(request)
        if who is None:
            return Response(status_code=401)
        record = owned_job(store, job_id, who)
        if record is None:
            return Response(status_code=404)
        fragment = pages.timeline_fragment(record, datetime.now(UTC))
        final = "1" if record.status.is_final else "0"
        headers = {"X-Chorus-Final": final, "X-Chorus-Subtasks": pages.done(record)}
        return Response(fragment, media_type="image/svg+xml", headers=headers)

    @api.get("/ui/jobs/{job_id}/events", include_in_schema=False)
    async def events(request: Request, job_id: str) -> Response:
        """The job's Server-Sent Events, as `/v1/jobs/{id}/events` serves them to its owner."""
        who = signed_in(request)
        if who is None:
            return Response(status_code=401)
        record = await run_in_threadpool(owned_job, store, job_id, who)
        if record is None:
            return Response(status_code=404)
        last = request.headers.get("last-event-id", "")
        return streams.response(record, last if EVENT_ID.fullmatch(last) else None)

    @api.post("/ui/jobs/{job_id}/cancel", include_in_schema=False)
    async def cancel(request: Request, job_id: str) -> Response:
        who = signed_in(request)
        if who is None:
            return to_login()
        fields = await form(request)
        if not csrf_ok(sessions.secret, sessions.key(request), fields.get("csrf")):
            return _html(pages.message_page("Forbidden", "Stale or missing form token."), 403)
        record = await run_in_threadpool(owned_job, store, job_id, who)
        if record is None:
            return _not_found(job_id)
        await run_in_threadpool(store.cancel, record.job_id)  # idempotent
        return RedirectResponse(pages.job_link(record), status_code=303)
