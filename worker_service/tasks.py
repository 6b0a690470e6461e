"""The Celery entry point of the worker service, `worker.run_subtask`: a thin wrapper that
hands the message to `execution.execute` and turns `RetryLater` into `task.retry`."""

from __future__ import annotations

from typing import Any

from chorus.contract import limits, names
from chorus.runtime.app import ChorusCelery
from chorus.runtime.retrying import retrying
from chorus.worker_service.execution import execute


def register(app: ChorusCelery) -> None:
    @app.task(
        name=names.RUN_SUBTASK_TASK,
        bind=True,
        max_retries=None,
        resultrepr_maxsize=limits.RESULT_LOG_CHARS,
    )
    def run_subtask(self: Any, **payload: Any) -> dict[str, Any] | None:
        """Run one subtask. The result itself is in the job's results hash (the gather step
        reads it there); the Celery result is a short receipt, so the output is not stored
        twice."""
        node = getattr(self.request, "hostname", None)
        with retrying(self):
            result = execute(app.deps, payload, node=node)
        if result is None:
            return None
        return {
            "job_id": payload.get("job_id"),
            "index": result.index,
            "status": result.status.value,
            "attempts": result.attempts,
        }
