"""Storing what a model call produced when the store is away: keep trying for as long as the
output is still useful, because it was paid for. One loop for the planner and the workers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from chorus.core import retry
from chorus.errors import ResultNotStored

log = logging.getLogger(__name__)

T = TypeVar("T")


def keep_trying(
    save: Callable[[], T],
    *,
    what: str,
    clock: Callable[[], datetime],
    sleep: Callable[[float], None],
    give_up_at: Callable[[datetime], datetime],
) -> T:
    """`save()` until it succeeds; `give_up_at(first_failure)` says when to stop, and then
    ResultNotStored is raised (the reconciler runs the step again)."""
    deadline: datetime | None = None
    pause = 1.0
    while True:
        try:
            return save()
        except Exception as exc:
            now = clock()
            deadline = deadline or give_up_at(now)
            left = (deadline - now).total_seconds()
            if left <= 0:
                log.error("%s: gave up storing it (%s)", what, type(exc).__name__)
                raise ResultNotStored(what) from exc
            log.warning(
                "%s: storing it failed (%s); trying again for %.0fs", what, type(exc).__name__, left
            )
            sleep(min(pause, left))
            pause = retry.next_save_pause_s(pause)
