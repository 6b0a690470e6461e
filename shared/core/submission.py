"""A submission becomes a request and its first record: pure, so every door (HTTP API, CLI,
Python, a bare Celery message) validates the same way before anything is enqueued."""

from __future__ import annotations

import uuid
from typing import Any

import pydantic

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
