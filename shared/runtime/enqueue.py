"""Putting a validated job on the broker: what the API, the CLI and `chorus.submit_job` share.

The record is written first, so the job can be read at once; the orchestrator resumes from
that `planning` record.
"""

from __future__ import annotations

from celery import Celery

from chorus.contract import names
from chorus.contract.actions import RetryOptions
from chorus.contract.models import JobRecord, JobRequest
from chorus.core.submission import initial_record, same_job
from chorus.errors import JobIdInUse
from chorus.runtime.signatures import flower_label
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
        kwargsrepr=flower_label(job=request.job_id),
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


def retry_and_enqueue(
    app: Celery,
    store: JobStore,
    job_id: str,
    options: RetryOptions | None = None,
    key: str | None = None,
) -> JobRecord:
    """Retry the job's failed and skipped subtasks (`JobStore.retry`: InvalidTransition with
    the reason when it cannot be), then send `orchestrator.retry_job` to dispatch them. The
    same Idempotency-Key again answers with that retry's run, and sends again: harmless, since
    a run's subtasks go out once, and it revives a retry whose first message was lost."""
    record, _ = store.retry(job_id, options, key)
    given = (options or RetryOptions()).model_dump(mode="json")
    app.send_task(
        names.RETRY_JOB_TASK,
        kwargs={"job_id": job_id, "options": given, "idempotency_key": key},
        queue=names.ORCHESTRATOR_QUEUE,
        kwargsrepr=flower_label(job=job_id),
    )
    return record
