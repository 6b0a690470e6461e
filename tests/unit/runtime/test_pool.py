"""Celery's own threads pool, its threads started before any task."""

from __future__ import annotations

from celery.concurrency.solo import TaskPool as SoloPool
from celery.concurrency.thread import TaskPool as ThreadsPool

from chorus.runtime.pool import prestart_threads


def test_every_thread_of_a_threads_pool_is_started() -> None:
    pool = ThreadsPool(limit=12)
    try:
        assert pool.info["threads"] == 0  # the executor starts threads only as work comes
        prestart_threads(pool)
        assert pool.info["threads"] == 12
        # Work still runs, on the threads already there.
        assert pool.executor.submit(lambda: 7).result(timeout=5) == 7
        assert pool.info["threads"] == 12
    finally:
        pool.executor.shutdown(wait=True)


def test_other_pools_are_left_alone() -> None:
    prestart_threads(SoloPool(limit=1))
    prestart_threads(None)
