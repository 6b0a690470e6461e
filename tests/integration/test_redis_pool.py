"""A process's Redis pool never fails a command for want of a connection: a worker with 200
threads can have 200 commands in flight, and past the pool's size threads wait their turn."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import redis

from chorus.settings import Settings
from chorus.store.connection import redis_client


def _hold_connections(client: redis.Redis, threads: int) -> list[object]:
    """`threads` commands that each hold a connection for 0.3 s, all at once."""
    with ThreadPoolExecutor(threads) as pool:
        futures = [
            pool.submit(client.blpop, [f"chorus-test:never:{n}"], 0.3) for n in range(threads)
        ]
        return [f.exception() for f in futures]


def test_every_worker_thread_gets_a_connection(redis_url: str) -> None:
    client = redis_client(Settings(redis_url=redis_url))  # 200 worker threads by default
    assert _hold_connections(client, 200) == [None] * 200
    client.close()


def test_past_the_pool_size_threads_wait_instead_of_failing(redis_url: str) -> None:
    settings = Settings(redis_url=redis_url, worker_concurrency=4, orchestrator_concurrency=4)
    client = redis_client(settings)
    assert _hold_connections(client, 40) == [None] * 40  # 20 connections, 40 threads
    client.close()
