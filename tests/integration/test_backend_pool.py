"""The Redis pools every thread of a process shares, on a real Redis: the result backend's
(redis-py's default cap is 100 connections: over it a chord part failed with
`MaxConnectionsError` and its job waited for the reconciler) and a broker channel's (kombu's
default cap is 10; the consumer's channel acknowledges for every pool thread). Past those caps
every thread still gets a connection."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import redis

from chorus.runtime.app import create_celery_app
from chorus.settings import Settings

THREADS = 150


def _all_hold_one_at_once(pool: redis.ConnectionPool) -> bool:
    barrier = threading.Barrier(THREADS, timeout=10)

    def hold_one(_: int) -> bool:
        connection = pool.get_connection()  # as a chord part's script or an ack takes one
        try:
            connection.send_command("PING")  # type: ignore[no-untyped-call]
            answered = connection.read_response() in (b"PONG", "PONG")
            barrier.wait()  # every thread holds its connection here at once
            return answered
        finally:
            pool.release(connection)

    with ThreadPoolExecutor(THREADS) as threads:
        return all(threads.map(hold_one, range(THREADS)))


def test_150_threads_each_hold_a_backend_connection_at_once(redis_url: str) -> None:
    app = create_celery_app(Settings(redis_url=redis_url, worker_concurrency=THREADS))
    try:
        assert _all_hold_one_at_once(app.backend.client.connection_pool)
    finally:
        app.close()


def test_150_threads_each_hold_a_broker_channel_connection_at_once(redis_url: str) -> None:
    app = create_celery_app(Settings(redis_url=redis_url, worker_concurrency=THREADS))
    with app.connection_for_read() as connection:
        assert _all_hold_one_at_once(connection.default_channel.client.connection_pool)
    app.close()
