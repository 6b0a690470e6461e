"""The console's answer to a plan awaiting review: Approve and Reject buttons on the job
page, posted with the console's CSRF token, applied by the same code as
`POST /v1/jobs/{id}/plan` (editing a plan is left to the API and `chorus review`)."""

from __future__ import annotations

from urllib.parse import quote

from celery import Celery
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from chorus.contract.actions import PlanReview
from chorus.contract.models import JobRecord, JobStatus
from chorus.core import records
from chorus.errors import InvalidRequest, InvalidTransition, JobNotFound
from chorus.orchestrator_service.api.console.html import csrf_field, esc, page
from chorus.orchestrator_service.api.console.security import Sessions, csrf_ok, form
from chorus.orchestrator_service.api.ownership import owned_job
from chorus.orchestrator_service.review import review_plan
from chorus.runtime.enqueue import enqueue_job
from chorus.store.jobs import JobStore


def review_form(record: JobRecord, csrf: str) -> str:
    """The job page's Approve / Reject buttons, while its plan awaits review."""
    if record.status is not JobStatus.AWAITING_REVIEW:
        return ""
    action = esc(f"/ui/jobs/{quote(record.job_id, safe='')}/plan")
    return (
        f'<form method="post" action="{action}" class="review">{csrf_field(csrf)}'
        "<p>This plan awaits your review.</p>"
        '<button type=submit name="decision" value="approve">Approve plan</button> '
        '<input name="reason" maxlength="2000" placeholder="Reason (optional)" '
        'aria-label="Reason for rejecting">'
        '<button type=submit name="decision" value="reject">Reject plan</button></form>'
    )


def _message(title: str, text: str, status: int) -> HTMLResponse:
    return HTMLResponse(page(title, f"<h1>{esc(title)}</h1><p>{esc(text)}</p>"), status)


def add_console_review_route(
    api: FastAPI, sessions: Sessions, store: JobStore, celery: Celery
) -> None:
    @api.post("/ui/jobs/{job_id}/plan", include_in_schema=False)
    async def review(request: Request, job_id: str) -> Response:
        who = sessions.tenant(request)
        if who is None:
            return RedirectResponse("/ui/login", status_code=303)
        fields = await form(request)
        if not csrf_ok(sessions.secret, sessions.key(request), fields.get("csrf")):
            return _message("Forbidden", "Stale or missing form token.", 403)
        record = await run_in_threadpool(owned_job, store, job_id, who)
        if record is None:
            return _message("Not found", f"No job {job_id!r}.", 404)
        decision = fields.get("decision")
        if decision == "approve":
            answer = PlanReview(approve=True)
        elif decision == "reject":
            reason = fields.get("reason", "").strip()[:2000] or None
            answer = PlanReview(reject=True, reason=reason)
        else:
            return _message("Bad request", "Choose Approve or Reject.", 400)
        try:
            updated = await run_in_threadpool(
                review_plan, store, record.job_id, answer, records.utc_now()
            )
        except InvalidTransition as exc:
            return _message("Conflict", str(exc), 409)
        except (InvalidRequest, JobNotFound) as exc:
            return _message("Refused", str(exc), 422)
        if updated.status is JobStatus.RUNNING:
            await run_in_threadpool(enqueue_job, celery, updated.request)
        return RedirectResponse(f"/ui/jobs/{quote(record.job_id, safe='')}", status_code=303)
