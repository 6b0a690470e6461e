"""Celery entry point of the worker service: `worker.run_subtask`."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from shared import constants
from shared.celery_app import ChorusCelery
from worker_service.execution import execute


@shared_task(
    name=constants.RUN_SUBTASK_TASK,
    bind=True,
    max_retries=None,
    resultrepr_maxsize=constants.RESULT_LOG_CHARS,
)
def run_subtask(self: Any, **payload: Any) -> dict[str, Any] | None:
    """Run one subtask. The result itself is in the job's results hash (the gather step reads
    it there); the Celery result is a short receipt, so the output is not stored twice."""
    app: ChorusCelery = self.app
    result = execute(self, app, payload)
    if result is None:
        return None
    return {
        "job_id": payload.get("job_id"),
        "index": result.index,
        "status": result.status.value,
        "attempts": result.attempts,
    }
