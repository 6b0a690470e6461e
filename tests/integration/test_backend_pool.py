"""The result backend's one Redis pool, shared by every thread of a process, on a real Redis:
past redis-py's default cap of 100 connections, every thread still gets one. Over that cap a
chord part failed with `MaxConnectionsError` and its job waited for the reconciler."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from chorus.runtime.app import create_celery_app
from chorus.settings import Settings

THREADS = 150


def test_150_threads_each_hold_a_backend_connection_at_once(redis_url: str) -> None:
    app = create_celery_app(Settings(redis_url=redis_url, worker_concurrency=THREADS))
    pool = app.backend.client.connection_pool
    barrier = threading.Barrier(THREADS, timeout=10)

    def hold_one(_: int) -> bool:
        connection = pool.get_connection()  # as a chord part's script call takes one
        try:
            connection.send_command("PING")
            answered = connection.read_response() in (b"PONG", "PONG")
            barrier.wait()  # every thread holds its connection here at once
            return answered
        finally:
            pool.release(connection)

    try:
        with ThreadPoolExecutor(THREADS) as threads:
            assert all(threads.map(hold_one, range(THREADS)))
    finally:
        app.close()
