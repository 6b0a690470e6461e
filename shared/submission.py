"""Enqueueing jobs and following them: what the CLI (and any Python service) uses.

Validation happens here, before anything is enqueued, so bad input is rejected with a
one-line reason and never reaches a queue.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from celery import Celery

from shared import constants, records
from shared.job_store import JobStore
from shared.models import JobRecord, JobRequest
from shared.settings import Settings


class JobWaitTimeout(TimeoutError):
    pass


def build_request(payload: dict[str, Any]) -> JobRequest:
    """Validate a submission and give it a job id. Raises pydantic.ValidationError."""
    request = JobRequest.model_validate(payload)
    if request.job_id is None:
        request = request.model_copy(update={"job_id": str(uuid.uuid4())})
    return request


def enqueue_job(app: Celery, request: JobRequest) -> str:
    """Send `orchestrator.run_job` by name; the job id doubles as the Celery task id."""
    assert request.job_id is not None, "build_request assigns the job id"
    app.send_task(
        constants.RUN_JOB_TASK,
        kwargs=request.model_dump(mode="json"),
        task_id=request.job_id,
        queue=constants.ORCHESTRATOR_QUEUE,
        kwargsrepr=f"job={request.job_id}",
    )
    return request.job_id


def submit_job(app: Celery, store: JobStore, settings: Settings, request: JobRequest) -> JobRecord:
    """Write the record first (so the job can be read at once), then enqueue it. The
    orchestrator resumes from this `planning` record."""
    record = store.create(initial_record(request, settings))
    enqueue_job(app, request)
    return record


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


def cancel_job(store: JobStore, job_id: str) -> JobRecord:
    """Cancel a job (idempotent); the first cancel is announced by the same transaction."""
    record, _ = store.cancel(job_id)
    return record


def wait_for_job(
    store: JobStore,
    job_id: str,
    *,
    timeout_s: float,
    poll_s: float = 0.1,
    on_update: Callable[[JobRecord | None, int], None] | None = None,
) -> JobRecord:
    """Poll until the job is final; `on_update(record, results_done)` sees progress."""
    deadline = time.monotonic() + timeout_s
    while True:
        record = store.find(job_id)
        if on_update is not None:
            on_update(record, store.results_count(job_id) if record else 0)
        if record is not None and record.status.is_final:
            return record
        if time.monotonic() >= deadline:
            status = record.status.value if record else "not yet recorded"
            raise JobWaitTimeout(f"job {job_id} still {status} after {timeout_s:.0f}s")
        time.sleep(poll_s)
