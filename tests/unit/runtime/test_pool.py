"""Celery's own threads pool, its threads started before any task."""

from __future__ import annotations

import threading

import pytest
from celery.concurrency.solo import TaskPool as SoloPool
from celery.concurrency.thread import TaskPool as ThreadsPool

from chorus.runtime.pool import prestart_threads
from tests.support.waiting import wait_until


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


def test_a_pool_already_busy_gets_one_warning_and_keeps_working(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pool = ThreadsPool(limit=4)
    release = threading.Event()
    try:
        busy = pool.executor.submit(release.wait, 5)  # a thread the placeholders cannot have
        prestart_threads(pool, timeout_s=0.2)

        def warnings() -> int:
            return sum("fewer than 4 pool threads" in r.getMessage() for r in caplog.records)

        # The placeholders give up waiting for each other at their timeout.
        wait_until(lambda: warnings() > 0, timeout_s=5, what="the placeholders' warning")
        release.set()
        assert busy.result(timeout=5) is True
        assert pool.executor.submit(lambda: 7).result(timeout=5) == 7  # work runs
        assert warnings() == 1
    finally:
        release.set()
        pool.executor.shutdown(wait=True)
