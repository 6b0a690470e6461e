"""The notebook's three lines on Chorus: `Orchestrator(...).process(...)` with nothing
configured (an embedded stack, started once, stopped at exit), against a running stack through
the broker and through the HTTP API, and `process_async`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import chorus
from chorus.contract.models import JobStatus
from chorus.devstack.stack import LocalStack, wait_until
from tests.support.api_server import start_api

ORCHESTRATOR_PROMPT = (
    "Analyze this task and break it down into 2-3 distinct approaches:\n\nTask: {task}\n"
)
WORKER_PROMPT = (
    "Generate content based on:\nTask: {original_task}\nStyle: {task_type}\n"
    "Guidelines: {task_description}\n\nReturn your response in this format:\n\n"
    "<response>\nYour content here.\n</response>\n"
)
TASK = "Write a product description for a new eco-friendly water bottle"
CONTEXT = {"target_audience": "environmentally conscious millennials"}

EMBEDDED = f"""
import json, chorus
from chorus.client.embedded import embedded_pids
orchestrator = chorus.Orchestrator(
    {ORCHESTRATOR_PROMPT!r}, {WORKER_PROMPT!r}, model="claude-sonnet-5-5"
)
first = orchestrator.process({TASK!r}, context={CONTEXT!r})
second = orchestrator.process("Write a slogan for it", context={CONTEXT!r})
print(json.dumps({{
    "statuses": [first.status.value, second.status.value],
    "types": [r.type for r in first.results],
    "outputs": [r.output for r in first.results],
    "models": [first.orchestrator_model, first.worker_model],
    "pids": embedded_pids(),
}}))
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()


def test_with_nothing_configured_it_runs_on_an_embedded_stack_stopped_at_exit(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CHORUS_"))}
    env.pop("REDIS_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", EMBEDDED], env=env, cwd=tmp_path, capture_output=True,
        text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["statuses"] == ["succeeded", "succeeded"]  # one stack, two jobs
    assert out["models"] == ["claude-sonnet-5-5", "claude-sonnet-5-5"]
    assert out["types"] and all(o and "<response>" not in o for o in out["outputs"])
    assert len(out["pids"]) == 4  # redis, simulator, orchestrator, worker
    wait_until(lambda: not any(_alive(p) for p in out["pids"]), timeout_s=20, what="stack gone")


def test_against_a_running_stack_through_the_broker_and_async(
    chorus_stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHORUS_API_URL", raising=False)
    monkeypatch.setenv("REDIS_URL", chorus_stack.redis_url)
    orchestrator = chorus.Orchestrator(ORCHESTRATOR_PROMPT, WORKER_PROMPT, max_subtasks=2)
    record = orchestrator.process(TASK, context=CONTEXT)
    assert record.status is JobStatus.SUCCEEDED
    assert record.plan is not None and record.results[0].description
    again = asyncio.run(orchestrator.process_async(TASK, context=CONTEXT))
    assert again.status is JobStatus.SUCCEEDED and again.job_id != record.job_id


def test_against_a_running_stack_through_the_http_api(
    chorus_stack: LocalStack, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc, url = start_api(dict(chorus_stack.env), workdir / "orchestrator-api.log")
    try:
        monkeypatch.setenv("CHORUS_API_URL", url)
        orchestrator = chorus.Orchestrator(ORCHESTRATOR_PROMPT, WORKER_PROMPT, max_subtasks=2)
        record = orchestrator.process(TASK, context=CONTEXT)
        assert record.status is JobStatus.SUCCEEDED
        assert record.request.options.prompts is not None
        again = asyncio.run(orchestrator.process_async(TASK, context=CONTEXT))
        assert again.status is JobStatus.SUCCEEDED
        with pytest.raises(chorus.InvalidRequest, match=r"\{nope\} is not a variable"):
            chorus.Orchestrator("{nope}", WORKER_PROMPT).process(TASK)
    finally:
        proc.stop()
