"""Bad input is rejected at submit time with one line (CLI exit 2) and nothing is enqueued."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import redis

from chorus.contract import limits, names
from chorus.runtime.app import ChorusCelery

# A database no worker consumes from, so anything enqueued by mistake stays visible.
IDLE_DB = 7


def idle_url(redis_url: str) -> str:
    # The database goes in the URL: a `/0` there would override a `db=` argument.
    return redis_url.rsplit("/", 1)[0] + f"/{IDLE_DB}"


def chorus(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": idle_url(redis_url)}
    return subprocess.run(
        [sys.executable, "-m", "chorus.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["submit", ""], "task must not be empty"),
        (["submit", "   \n\t "], "task must not be empty"),
        (["submit", "x" * (limits.MAX_TASK_CHARS + 1)], "at most 100000 characters"),
        (["submit", "ok", "--context", "[1, 2]"], "context must be a JSON object"),
        (["submit", "ok", "--context", '"just text"'], "context must be a JSON object"),
        (["submit", "ok", "--context", "{broken"], "--context is not valid JSON"),
        (["submit", "ok", "--max-subtasks", "0"], "options.max_subtasks"),
        (["submit", "ok", "--cache", "sometimes"], "options.cache"),
        (["submit", "ok", "--max-subtasks", "21"], "less than or equal to 20"),
    ],
)
def test_cli_rejects_bad_input_with_one_line_and_enqueues_nothing(
    redis_url: str, args: list[str], expected: str
) -> None:
    idle = redis.Redis.from_url(idle_url(redis_url))
    idle.flushdb()  # our own private server's spare database, never a shared Redis

    done = chorus(redis_url, *args)

    assert done.returncode == 2, done.stderr
    message = done.stderr.strip()
    assert expected in message
    assert "Traceback" not in done.stderr + done.stdout
    assert len(message.splitlines()) == 1
    assert idle.dbsize() == 0


def test_bad_message_sent_straight_to_celery_is_rejected_with_a_reason(
    chorus_stack: object, client_app: ChorusCelery
) -> None:
    reply = client_app.send_task(
        names.RUN_JOB_TASK, kwargs={"task": "  ", "job_id": "bad-one"}
    ).get(timeout=30)

    assert reply["status"] == "rejected"
    assert "task must not be empty" in reply["error"]


def test_api_refuses_to_listen_beyond_loopback_without_tokens(redis_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CHORUS_API_TOKENS"}
    done = subprocess.run(
        [sys.executable, "-m", "chorus.cli", "api", "--host", "0.0.0.0", "--port", "1"],  # noqa: S104
        env={**env, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "without CHORUS_API_TOKENS" in done.stderr and "Traceback" not in done.stderr
