"""The Celery entry points of batch mode, `orchestrator.batch_flush` and
`orchestrator.batch_poll`: thin wrappers over `chorus.orchestrator_service.batching`."""

from __future__ import annotations

from typing import Any

from chorus.contract import limits, names
from chorus.orchestrator_service import batching
from chorus.runtime.app import ChorusCelery
from chorus.runtime.batches import schedule_flush
from chorus.runtime.retrying import retrying


def batch_deps(app: ChorusCelery) -> batching.BatchDeps:
    deps = app.deps

    def poll_later(batch_id: str, countdown: float) -> None:
        app.send_task(names.BATCH_POLL_TASK, kwargs={"batch_id": batch_id},
                      countdown=countdown, queue=names.ORCHESTRATOR_QUEUE)  # fmt: skip

    return batching.BatchDeps(
        settings=app.settings,
        collector=app.batch_collector,
        model=deps.model,
        store=deps.store,
        clock=deps.clock,
        schedule_flush=lambda: schedule_flush(app, app.settings, "now"),
        schedule_poll=poll_later,
    )


def register(app: ChorusCelery) -> None:
    @app.task(
        name=names.BATCH_FLUSH_TASK,
        bind=True,
        max_retries=None,
        resultrepr_maxsize=limits.RESULT_LOG_CHARS,
    )
    def batch_flush(self: Any, **_: Any) -> dict[str, Any]:
        """Send the pending batch requests as one Message Batch."""
        with retrying(self):
            return batching.flush(batch_deps(app), retries=self.request.retries)

    @app.task(
        name=names.BATCH_POLL_TASK,
        bind=True,
        max_retries=None,
        resultrepr_maxsize=limits.RESULT_LOG_CHARS,
    )
    def batch_poll(self: Any, batch_id: str) -> dict[str, Any]:
        """Wait for a batch to end (countdown retries), then store its results."""
        with retrying(self):
            return batching.poll(batch_deps(app), batch_id)
