"""Celery entry points of the orchestrator: `run_job` and `gather_results`.

These stay thin: validation, planning and record changes live in their own modules.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.exceptions import Retry

from orchestrator_service import dispatch, gathering, planning
from shared import constants
from shared.celery_app import ChorusCelery
from shared.models import JobRecord, JobStatus

log = logging.getLogger(__name__)


@shared_task(
    name=constants.RUN_JOB_TASK,
    bind=True,
    max_retries=None,
    resultrepr_maxsize=constants.RESULT_LOG_CHARS,
)
def run_job(self: Any, **payload: Any) -> dict[str, Any]:
    """Plan the job and fan its subtasks out through a chord. Returns {job_id, status}."""
    app: ChorusCelery = self.app
    request = planning.parse_request(payload, fallback_job_id=self.request.id)
    if isinstance(request, str):
        log.warning("rejected run_job message: %s", request)
        return {"job_id": payload.get("job_id"), "status": "rejected", "error": request}
    try:
        record = planning.plan_job(self, app, request)
        if record.status is JobStatus.RUNNING:
            dispatch.dispatch_subtasks(app, record)
    except Retry:
        raise
    except Exception as exc:
        # Redis blips and bugs alike: try again (a redelivery resumes where it stopped), and in
        # the end fail the job on record rather than leave it hanging.
        if self.request.retries + 1 < app.settings.max_attempts:
            log.warning("run_job %s hit %s; retrying", request.job_id, type(exc).__name__)
            raise self.retry(countdown=1.0 + self.request.retries, exc=exc) from exc
        log.exception("run_job %s failed", request.job_id)
        assert request.job_id is not None
        record = planning.fail_job(app, request.job_id, f"internal error: {type(exc).__name__}")
    return {"job_id": record.job_id, "status": record.status.value}


@shared_task(
    name=constants.GATHER_RESULTS_TASK,
    bind=True,
    max_retries=None,
    resultrepr_maxsize=constants.RESULT_LOG_CHARS,
)
def gather_results(self: Any, results: Any = None, *, job_id: str) -> dict[str, Any]:
    """Chord callback: build the final record from the stored results, once."""
    app: ChorusCelery = self.app
    record: JobRecord = gathering.gather(self, app, job_id)
    return {"job_id": job_id, "status": record.status.value}
