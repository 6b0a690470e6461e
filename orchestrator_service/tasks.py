"""The Celery entry points of the orchestrator, `orchestrator.run_job` and
`orchestrator.gather_results`: thin wrappers that hand the message to the task logic
(`planning`, `gathering`) and turn `RetryLater` into `task.retry`."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from chorus.contract import limits, names
from chorus.contract.models import JobRecord, job_id_problem
from chorus.orchestrator_service import batch_tasks, dispatch, gathering, planning, rerun, review
from chorus.runtime.app import ChorusCelery
from chorus.runtime.retrying import retrying

log = logging.getLogger(__name__)

GATHER_RESULT_CHARS = 400


def console_link(console_url: str | None, job_id: str) -> str:
    """The job's console page: a path, or a full URL under the console's base URL."""
    path = f"/ui/jobs/{quote(job_id, safe='')}"
    return f"{console_url.rstrip('/')}{path}" if console_url else path


def register(app: ChorusCelery) -> None:
    batch_tasks.register(app)

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
        # The first tag is kept when a dead process's message is handed back: the same delivery.
        tag = (getattr(self.request, "properties", None) or {}).get("delivery_tag")
        with retrying(self):
            return planning.run_job(
                app.deps,
                payload,
                task_id=self.request.id,
                retries=self.request.retries,
                dispatch=send_chord,
                delivery=names.first_delivery_tag(str(tag)) if tag else None,
            )

    @app.task(name=names.REVIEW_PLAN_TASK, resultrepr_maxsize=limits.RESULT_LOG_CHARS)
    def review_plan(**payload: Any) -> dict[str, Any]:
        """Answer a plan awaiting review (kwargs: PlanReview's fields and job_id), then send
        an approved plan's subtasks once."""
        return review.run_review_task(app.deps, payload, send_chord)

    @app.task(
        name=names.GATHER_RESULTS_TASK,
        bind=True,
        max_retries=None,
        # Its result holds no model output, only a few short fields and the console link.
        resultrepr_maxsize=GATHER_RESULT_CHARS,
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
        # What Flower's result column shows for the job: how it ended, where its console page
        # is, and why; the error, of any length, last so the cut takes only its tail.
        return {
            "job_id": job_id,
            "status": record.status.value,
            "console": console_link(app.settings.console_url, job_id),
            "subtasks_failed": record.subtasks_failed,
            "cost_usd": round(record.usage.cost_usd, 6),
            "error": record.error,
        }

    @app.task(
        name=names.RETRY_JOB_TASK,
        bind=True,
        max_retries=None,
        resultrepr_maxsize=limits.RESULT_LOG_CHARS,
    )
    def retry_job(self: Any, **payload: Any) -> dict[str, Any]:
        """Run a final job's failed and skipped subtasks again, as a new run (kwargs:
        job_id, options, idempotency_key); once per run, however often it is sent."""
        with retrying(self):
            send = rerun.sender(app)
            return rerun.retry_job(app.deps, payload, retries=self.request.retries, dispatch=send)
