"""A submission becomes a request and its first record: pure, so every door (HTTP API, CLI,
Python, a bare Celery message) validates the same way before anything is enqueued."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pydantic

from chorus.contract import limits
from chorus.contract.models import JobRecord, JobRequest, describe_validation_error
from chorus.core import records
from chorus.errors import InvalidRequest
from chorus.settings import Settings


def build_request(payload: dict[str, Any]) -> JobRequest:
    """Validate a submission and give it a job id. Raises InvalidRequest naming each field."""
    try:
        request = JobRequest.model_validate(payload)
    except pydantic.ValidationError as exc:
        raise InvalidRequest(describe_validation_error(exc)) from exc
    if request.job_id is None:
        request = request.model_copy(update={"job_id": str(uuid.uuid4())})
    return request


def initial_record(request: JobRequest, settings: Settings) -> JobRecord:
    """The `planning` record of a new job, with the models it will use."""
    assert request.job_id is not None, "build_request assigns the job id"
    options = request.options
    return records.new_record(
        request,
        request.job_id,
        orchestrator_model=options.orchestrator_model or settings.orchestrator_model,
        worker_model=options.worker_model or settings.worker_model,
        simulated=settings.uses_simulator,
        now=records.utc_now(),
    )


def fingerprint(request: JobRequest) -> str:
    """What makes two submissions the same job, whatever id or tenant they name: a second
    delivery, an idempotent retry or a redelivered message must match the first."""
    body = request.model_dump_json(exclude={"job_id", "tenant"})
    return hashlib.sha256(body.encode()).hexdigest()


def same_job(stored: JobRequest, given: JobRequest) -> bool:
    return stored.tenant == given.tenant and fingerprint(stored) == fingerprint(given)


def tenant_job_id(tenant: str, job_id: str) -> str:
    """The id an API tenant's own `job_id` is stored under: `<tenant>:<job_id>`, so one
    tenant's choice never meets (or reveals) another's. Tenant names have no `:`, so the
    mapping is one-to-one; an id too long for that keeps its head and a digest of the whole."""
    scoped = f"{tenant}:{job_id}"
    if len(scoped) <= limits.MAX_JOB_ID_CHARS:
        return scoped
    digest = hashlib.sha256(job_id.encode()).hexdigest()[:16]
    keep = limits.MAX_JOB_ID_CHARS - len(tenant) - len(digest) - 2
    return f"{tenant}:{job_id[:keep]}-{digest}"
