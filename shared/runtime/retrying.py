"""The one translation from task logic to Celery: `RetryLater` becomes `task.retry`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from celery.exceptions import Reject

from chorus.errors import RetryLater

log = logging.getLogger(__name__)

FIRST_PAUSE_S = 0.5
LONGEST_PAUSE_S = 5.0


@contextmanager
def retrying(
    task: Any,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[None]:
    """Run task logic; a `RetryLater` it raises re-queues the message with its countdown (and
    its kwargs, when given), holding no worker slot while it waits.

    Celery drops the message when the retry cannot be sent (`Reject(requeue=False)`): with
    Redis refusing writes, a subtask that asked to come back later would be lost until the
    reconciler noticed. The message is still held (unacknowledged, in this process's ledger),
    so the retry is sent again until it goes out, for up to `result_save_cap_s`."""
    try:
        yield
    except RetryLater as exc:
        give_up_at = clock() + task.app.settings.result_save_cap_s
        pause = FIRST_PAUSE_S
        while True:
            try:
                raise task.retry(countdown=exc.countdown, kwargs=exc.kwargs, exc=exc) from exc
            except Reject as refused:
                if clock() >= give_up_at:
                    raise
                log.warning(
                    "could not send the retry (%s); trying again in %.1fs", refused.reason, pause
                )
                sleep(pause)
                pause = min(pause * 2, LONGEST_PAUSE_S)
