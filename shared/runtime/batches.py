"""Batch mode's BatchPort for task logic: the Redis collector, plus sending the flush task a
new request calls for (`orchestrator.batch_flush`, at once or after the window)."""

from __future__ import annotations

from datetime import datetime

from celery import Celery

from chorus.contract import names
from chorus.contract.batches import BatchItem, BatchOutcome, FlushWhen
from chorus.core.ports import BatchCollectorPort
from chorus.settings import Settings


def schedule_flush(app: Celery, settings: Settings, when: FlushWhen) -> None:
    if when is None:
        return
    countdown = 0.0 if when == "now" else settings.batch_window_s
    app.send_task(names.BATCH_FLUSH_TASK, kwargs={}, countdown=countdown,
                  queue=names.ORCHESTRATOR_QUEUE)  # fmt: skip


class CeleryBatches:
    def __init__(self, collector: BatchCollectorPort, app: Celery, settings: Settings) -> None:
        self._collector = collector
        self._app = app
        self._settings = settings

    def add(self, item: BatchItem) -> None:
        schedule_flush(self._app, self._settings, self._collector.add(item))

    def requeue(self, custom_id: str, taken_at: datetime) -> None:
        schedule_flush(self._app, self._settings, self._collector.requeue(custom_id, taken_at))

    def lookup(self, custom_id: str) -> tuple[BatchItem | None, BatchOutcome | None]:
        return self._collector.lookup(custom_id)

    def drop(self, custom_id: str) -> bool:
        return self._collector.drop(custom_id)
