"""Many clients following jobs at once (every `Client.wait` is an open event stream) hold no
request thread each: the API keeps answering, and every follower sees the job end."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chorus.devstack.stack import ManagedProcess
from tests.support.api_server import idle_api

FOLLOWERS = 60  # more than the request thread pool's 40 threads
IDLE_DB = 12  # no orchestrator consumes it: a submitted job stays `planning`


@pytest.fixture
def api_on_idle_db(redis_url: str, workdir: Path) -> Iterator[tuple[ManagedProcess, str]]:
    with idle_api(redis_url, IDLE_DB, workdir / "streams-api.log") as (proc, url, _):
        yield proc, url


def _threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Threads:")).split()[1])


def test_sixty_followers_hold_no_thread_each_and_all_see_the_end(
    api_on_idle_db: tuple[ManagedProcess, str],
) -> None:
    proc, url = api_on_idle_db
    job_id = httpx.post(f"{url}/v1/jobs", json={"task": "wait for me"}, timeout=10).json()["job_id"]
    connected = threading.Barrier(FOLLOWERS + 1, timeout=30)
    last_events: list[str] = []

    def follow() -> None:
        with httpx.stream("GET", f"{url}/v1/jobs/{job_id}/events", timeout=30) as response:
            lines = response.iter_lines()
            assert next(lines) == ": keep-alive"  # the job is waiting: the stream is open
            connected.wait()
            for line in lines:
                if line.startswith("event: "):
                    last_events.append(line.removeprefix("event: "))

    followers = [threading.Thread(target=follow, daemon=True) for _ in range(FOLLOWERS)]
    for thread in followers:
        thread.start()
    connected.wait()  # every follower has its stream open

    assert _threads(proc.pid) < 30, "each open event stream is holding a thread"
    assert httpx.get(f"{url}/v1/jobs/{job_id}", timeout=5).json()["status"] == "planning"

    cancelled = httpx.post(f"{url}/v1/jobs/{job_id}/cancel", timeout=5)
    assert cancelled.json()["status"] == "cancelled"
    for thread in followers:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in followers)
    assert last_events == ["cancelled"] * FOLLOWERS
