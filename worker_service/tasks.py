"""Celery entry point of the worker service: `worker.run_subtask`."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from shared import constants
from shared.celery_app import ChorusCelery
from shared.constants import RESULT_LOG_CHARS
from worker_service.execution import execute


@shared_task(
    name=constants.RUN_SUBTASK_TASK,
    bind=True,
    max_retries=None,
    resultrepr_maxsize=RESULT_LOG_CHARS,
)
def run_subtask(self: Any, **payload: Any) -> dict[str, Any] | None:
    """Run one subtask; returns its SubtaskResult as JSON (failed subtasks included)."""
    app: ChorusCelery = self.app
    result = execute(self, app, payload)
    return result.model_dump(mode="json") if result is not None else None
