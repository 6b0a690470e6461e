"""Redis away: every job command of the `chorus` CLI says where it looked, within seconds,
and never shows the password; the CLI's Celery publish gives up as quickly."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import kombu.exceptions
import pytest

from chorus.contract import limits, names
from chorus.devstack.stack import free_port
from chorus.runtime.app import create_celery_app
from chorus.settings import Settings

PASSWORD = "pw-that-must-never-show-4711"
DEADLINE_S = 3.0
COMMANDS = [
    ["status", "some-job"],
    ["result", "some-job", "--json"],
    ["jobs"],
    ["submit", "Name three rivers.", "--wait"],
    ["cancel", "some-job"],
]


@pytest.fixture(params=["closed port", "silent listener"])
def dead_redis(request: pytest.FixtureRequest) -> Iterator[tuple[int, float]]:
    """A port where nothing answers, and how soon a command must give up on it: nothing
    listening (refused at once), or a listener that never replies, as a hung Redis does (the
    command waits out one fail-fast socket timeout on top)."""
    if request.param == "closed port":
        yield free_port(), DEADLINE_S
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)  # never accepted: the kernel completes the handshake, nobody reads
        yield int(sock.getsockname()[1]), DEADLINE_S + limits.FAIL_FAST_REDIS_S / 2


def _env(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "CHORUS_"))}
    env["REDIS_URL"] = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    env["COLUMNS"] = "200"  # the one line must not be wrapped by the console
    return env


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_each_job_command_fails_fast_naming_redis_without_the_password(
    dead_redis: tuple[int, float], command: list[str]
) -> None:
    port, deadline_s = dead_redis
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "chorus.cli", *command],
        env=_env(port),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode != 0, done.stdout
    assert elapsed < deadline_s, f"chorus {command[0]} took {elapsed:.1f}s"
    assert f"127.0.0.1:{port}" in done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_the_cli_celery_app_gives_up_publishing_within_seconds() -> None:
    # The CLI pings Redis first, but Redis can go between the ping and the publish; Celery's
    # own retries (publish and result backend) would then take about twenty seconds.
    settings = Settings(redis_url=f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0")
    app = create_celery_app(settings, fail_fast=True)
    started = time.monotonic()
    # The broker's publish or the result backend's subscription, whichever fails first.
    with pytest.raises((kombu.exceptions.OperationalError, RuntimeError)):
        app.send_task(names.RUN_JOB_TASK, kwargs={}, queue=names.ORCHESTRATOR_QUEUE)
    assert time.monotonic() - started < DEADLINE_S
