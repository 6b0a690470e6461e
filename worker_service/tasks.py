"""The Celery entry point of the worker service, `worker.run_subtask`: a thin wrapper that
hands the message to `execution.execute` and turns `RetryLater` into `task.retry`."""

from __future__ import annotations

from typing import Any

from chorus.contract import limits, names
from chorus.contract.models import job_id_problem
from chorus.runtime.app import ChorusCelery
from chorus.runtime.retrying import retrying
from chorus.worker_service.execution import execute
from chorus.worker_service.refusals import Refused


def register(app: ChorusCelery) -> None:
    @app.task(
        name=names.RUN_SUBTASK_TASK,
        bind=True,
        max_retries=None,
        resultrepr_maxsize=limits.RESULT_LOG_CHARS,
    )
    def run_subtask(self: Any, **payload: Any) -> dict[str, Any]:
        """Run one subtask. The result itself is in the job's results hash (the gather step
        reads it there); the Celery result is a short receipt, so the output is not stored
        twice."""
        node = getattr(self.request, "hostname", None)
        with retrying(self):
            result = execute(app.deps, payload, node=node)
        if isinstance(result, Refused):
            # Never `succeeded`: nothing ran, and the result says why.
            job_id = payload.get("job_id")
            shown = job_id if job_id_problem(job_id) is None else None
            return {"job_id": shown, "status": "rejected", "error": result.reason}
        return {
            "job_id": payload.get("job_id"),
            "index": result.index,
            "status": result.status.value,
            "attempts": result.attempts,
        }
