"""A threads pool's threads, all started before the first task.

Celery's threads pool is a `ThreadPoolExecutor`, which starts a thread inside `submit` when
none is idle. `submit` runs in the consumer thread, and `Thread.start` waits there until the
new thread runs, which in a busy process is once the GIL comes round to it. py-spy found a
fresh 1,000-thread worker's consumer waiting in `Thread.start` during its first burst: that
burst started subtasks at the pace threads were born (the first sample of `make bench`'s
200×5 at 5 s was its slowest). Started at once, before any message is taken, idle threads
cost memory only.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)


def prestart_threads(pool: Any, *, timeout_s: float = 10.0) -> None:
    """Start every thread of a Celery threads pool (other pools are left alone). Call it from
    the consumer thread before its loop runs (`worker_ready` is sent there, just before): only
    that thread submits to the pool, so no task can queue behind the placeholders."""
    executor = getattr(pool, "executor", None)
    limit = getattr(pool, "limit", None)
    if not isinstance(executor, ThreadPoolExecutor) or not isinstance(limit, int) or limit < 1:
        return
    # Each placeholder holds its thread until all are running, so no submit finds one idle.
    together = threading.Barrier(limit)
    warned = threading.Event()

    def hold() -> None:
        try:
            together.wait(timeout_s)
        except threading.BrokenBarrierError:  # fewer threads started: the pool makes the rest
            if not warned.is_set():  # once, not from every placeholder
                warned.set()
                log.warning("started fewer than %d pool threads in %.0fs", limit, timeout_s)

    for _ in range(limit):
        executor.submit(hold)
