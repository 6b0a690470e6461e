"""The Celery entry points of the orchestrator, `orchestrator.run_job` and
`orchestrator.gather_results`: thin wrappers that hand the message to the task logic
(`planning`, `gathering`) and turn `RetryLater` into `task.retry`."""

from __future__ import annotations

import logging
from typing import Any

from chorus.contract import limits, names
from chorus.contract.models import JobRecord, job_id_problem
from chorus.orchestrator_service import dispatch, gathering, planning
from chorus.runtime.app import ChorusCelery
from chorus.runtime.retrying import retrying

log = logging.getLogger(__name__)


def register(app: ChorusCelery) -> None:
    def send_chord(record: JobRecord) -> str:
        return dispatch.dispatch_subtasks(app, app.settings, record)

    @app.task(
        name=names.RUN_JOB_TASK,
        bind=True,
        max_retries=None,
        resultrepr_maxsize=limits.RESULT_LOG_CHARS,
    )
    def run_job(self: Any, **payload: Any) -> dict[str, Any]:
        """Plan the job and fan its subtasks out through a chord. Returns {job_id, status}."""
        # Kept when a dead process's message is handed back: it is the same delivery.
        tag = (getattr(self.request, "properties", None) or {}).get("delivery_tag")
        with retrying(self):
            return planning.run_job(
                app.deps,
                payload,
                task_id=self.request.id,
                retries=self.request.retries,
                dispatch=send_chord,
                delivery=str(tag) if tag else None,
            )

    @app.task(
        name=names.GATHER_RESULTS_TASK,
        bind=True,
        max_retries=None,
        resultrepr_maxsize=limits.RESULT_LOG_CHARS,
    )
    def gather_results(
        self: Any,
        results: Any = None,
        *,
        job_id: str,
        synthesis_attempts: int = 0,
        give_up: str | None = None,
    ) -> dict[str, Any]:
        """Chord callback: build the final record from the stored results, once."""
        problem = job_id_problem(job_id)
        if problem is not None:  # no key is built from it
            log.warning("rejected gather_results message: %s", problem)
            return {"job_id": None, "status": "rejected", "error": problem}
        with retrying(self):
            record = gathering.gather(
                app.deps,
                job_id,
                retries=self.request.retries,
                task_id=self.request.id,
                synthesis_attempts=synthesis_attempts,
                give_up=give_up,
            )
        return {"job_id": job_id, "status": record.status.value}
