"""Start a real `chorus api` process for a test, wait for it with a deadline, stop it by pid."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import redis

from chorus.devstack.stack import ManagedProcess, StackError, free_port, wait_until


def start_api(
    env: dict[str, str], log_path: Path, *, timeout_s: float = 30
) -> tuple[ManagedProcess, str]:
    port = free_port()
    proc = ManagedProcess(
        "api",
        [sys.executable, "-m", "chorus.cli", "api", "--port", str(port)],
        env=env,
        log_path=log_path,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if not proc.alive():
            raise StackError(f"the API exited early:\n{proc.log_text()[-2000:]}")
        try:
            return httpx.get(url + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout_s=timeout_s, what="the API")
    except BaseException:
        proc.stop()
        raise
    return proc, url


@contextmanager
def idle_api(
    redis_url: str, db: int, log_path: Path, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[ManagedProcess, str, redis.Redis]]:
    """A real API on a database of the session's private redis-server that no orchestrator
    consumes, so whatever is enqueued stays visible; the database is emptied before and after."""
    url = redis_url.rsplit("/", 1)[0] + f"/{db}"
    client = redis.Redis.from_url(url, decode_responses=True)
    client.flushdb()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CHORUS_"))}
    proc, api_url = start_api({**env, "REDIS_URL": url, **(extra_env or {})}, log_path)
    try:
        yield proc, api_url, client
    finally:
        proc.stop()
        client.flushdb()
        client.close()


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`chorus ARGS` in a fresh process, with a deadline."""
    return subprocess.run(
        [sys.executable, "-m", "chorus.cli", *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
