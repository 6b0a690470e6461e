"""500 idle event streams open on one API process cost the other requests nothing noticeable
(the issue: 200 streams made /healthz take seconds), and once the stream pool is taken the
next stream is refused at once with a 503 instead of queueing behind the others."""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from chorus.contract import limits
from chorus.devstack.stack import start_redis, wait_until
from tests.support.api_server import start_api

STREAMS = 500
SAMPLES = 20
MEDIAN_S = 0.1


@pytest.fixture
def api_urls(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """An API on a private Redis that no orchestrator consumes: a job stays `planning`.
    Yields the API's URL and its Redis's."""
    # This process holds a socket per stream; the API lifts its own limit (`chorus api`).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * limits.API_STREAM_CONNECTIONS + 512
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"needs {wanted} open files, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    redis_proc, redis_url = start_redis(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CHORUS_"))}
    api, url = start_api({**env, "REDIS_URL": redis_url}, tmp_path / "api.log")
    try:
        yield url, redis_url
    finally:
        api.stop()
        redis_proc.stop()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class Followers:
    """Idle streams held open by an event loop in a thread of this process."""

    def __init__(self, url: str, job_id: str) -> None:
        self.url, self.job_id = url, job_id
        self.loop = asyncio.new_event_loop()
        self.http = httpx.AsyncClient(
            base_url=url, timeout=30, limits=httpx.Limits(max_connections=None)
        )
        # The line iterators too: one garbage-collected closes its connection.
        self.streams: list[tuple[httpx.Response, AsyncIterator[str]]] = []
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def open(self, count: int) -> list[int]:
        """Open `count` more streams at once; each one's status (200 ones stay open)."""
        future = asyncio.run_coroutine_threadsafe(self._open(count), self.loop)
        return future.result(timeout=60)

    async def _open(self, count: int) -> list[int]:
        return list(await asyncio.gather(*(self._one() for _ in range(count))))

    async def _one(self) -> int:
        request = self.http.build_request("GET", f"/v1/jobs/{self.job_id}/events")
        response = await self.http.send(request, stream=True)
        if response.status_code == 200:
            lines = response.aiter_lines()
            assert await anext(lines) == ": keep-alive"  # open, and waiting on the job
            self.streams.append((response, lines))
        else:
            await response.aread()
            await response.aclose()
        return response.status_code

    def close(self) -> None:
        async def close_all() -> None:
            await asyncio.gather(*(response.aclose() for response, _ in self.streams))
            await self.http.aclose()

        asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


def _median_s(client: httpx.Client, path: str) -> float:
    took = []
    for _ in range(SAMPLES):
        started = time.monotonic()
        assert client.get(path).status_code == 200
        took.append(time.monotonic() - started)
    return statistics.median(took)


def test_500_idle_streams_leave_other_requests_fast_and_one_too_many_gets_503(
    api_urls: tuple[str, str],
) -> None:
    api_url, redis_url = api_urls
    store = redis.Redis.from_url(redis_url)
    with httpx.Client(base_url=api_url, timeout=30) as client:
        job_id = client.post("/v1/jobs", json={"task": "followed, never run"}).json()["job_id"]
        followers = Followers(api_url, job_id)
        try:
            started = time.monotonic()
            assert followers.open(STREAMS) == [200] * STREAMS
            opened_s = time.monotonic() - started
            # Past the first keep-alive read (answered at once) every stream waits in Redis.
            wait_until(
                lambda: int(store.info("clients")["blocked_clients"]) >= STREAMS,
                timeout_s=10,
                what=f"{STREAMS} streams blocked in XREAD",
            )
            healthz_s = _median_s(client, "/healthz")
            get_s = _median_s(client, f"/v1/jobs/{job_id}")
            print(f"{STREAMS} streams opened in {opened_s:.1f}s; medians with them open: "
                  f"/healthz {healthz_s * 1000:.1f} ms, GET job {get_s * 1000:.1f} ms")  # fmt: skip
            assert healthz_s < MEDIAN_S and get_s < MEDIAN_S

            spare = limits.API_STREAM_CONNECTIONS - STREAMS
            assert followers.open(spare) == [200] * spare  # the pool is full now
            started = time.monotonic()
            refused = client.get(f"/v1/jobs/{job_id}/events")
            assert refused.status_code == 503 and time.monotonic() - started < 1
            assert refused.json() == {"error": "too many open event streams; try again later"}
            assert client.get(f"/v1/jobs/{job_id}").status_code == 200  # the rest still serves
        finally:
            followers.close()

        # Streams closed by their clients give their places back.
        def reopens() -> bool:
            with client.stream("GET", f"/v1/jobs/{job_id}/events") as again:
                return again.status_code == 200

        wait_until(reopens, timeout_s=10, what="a stream after the others closed")
