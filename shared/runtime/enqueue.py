"""Putting a validated job on the broker: what the API, the CLI and `chorus.submit_job` share.

The record is written first, so the job can be read at once; the orchestrator resumes from
that `planning` record.
"""

from __future__ import annotations

from celery import Celery

from chorus.contract import names
from chorus.contract.models import JobRecord, JobRequest
from chorus.core.submission import initial_record, same_job
from chorus.errors import JobIdInUse
from chorus.settings import Settings
from chorus.store.jobs import JobStore


def enqueue_job(app: Celery, request: JobRequest) -> str:
    """Send `orchestrator.run_job` by name; the job id doubles as the Celery task id."""
    assert request.job_id is not None, "build_request assigns the job id"
    app.send_task(
        names.RUN_JOB_TASK,
        kwargs=request.model_dump(mode="json"),
        task_id=request.job_id,
        queue=names.ORCHESTRATOR_QUEUE,
        kwargsrepr=f"job={request.job_id}",
    )
    return request.job_id


def record_and_enqueue(
    app: Celery, store: JobStore, settings: Settings, request: JobRequest
) -> JobRecord:
    """Write the `planning` record, then enqueue the job. JobIdInUse when the job id already
    names a different job. The same job again is enqueued again: harmless, since a job is
    planned and dispatched once whatever delivers it, and it revives a job whose first
    message was lost."""
    record = store.create(initial_record(request, settings))
    if not same_job(record.request, request):
        raise JobIdInUse(f"job_id {request.job_id!r} already names a different job")
    enqueue_job(app, request)
    return record
