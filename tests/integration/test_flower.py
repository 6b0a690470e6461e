"""Flower on the Chorus app: behind basic auth, it lists the nodes and a job's tasks."""

from __future__ import annotations

import base64
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from chorus.devstack.stack import LocalStack, ManagedProcess, free_port, wait_until
from tests.support.runner import JobRunner

AUTH = "ops:flower-password-123"


def get(url: str, auth: str | None = AUTH) -> tuple[int, Any]:
    request = urllib.request.Request(url)  # noqa: S310
    if auth:
        request.add_header("authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            body = response.read()
            try:
                return response.status, json.loads(body)
            except ValueError:
                return response.status, body.decode()
    except urllib.error.HTTPError as error:
        return error.code, None


def test_flower_lists_nodes_and_the_jobs_tasks(
    chorus_stack: LocalStack, jobs: JobRunner, workdir: Path
) -> None:
    port = free_port()
    proc = ManagedProcess(
        "flower",
        [sys.executable, "-m", "chorus.cli", "flower", "--port", str(port)],
        env={**chorus_stack.env, "FLOWER_BASIC_AUTH": AUTH},
        log_path=workdir / "flower.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            assert proc.alive(), proc.log_text()
            try:
                return get(url + "/healthcheck", auth=None)[0] == 200
            except OSError:
                return False

        wait_until(up, timeout_s=60, what="Flower")
        time.sleep(1)  # Flower subscribes to task events
        record = jobs.run("Flower job", options={"max_subtasks": 2})

        assert get(url + "/api/workers", auth=None)[0] == 401
        deadline = time.monotonic() + 30
        names: set[str] = set()
        while time.monotonic() < deadline and not {"orchestrator", "worker1"} <= names:
            _, workers = get(url + "/api/workers?refresh=1")
            names = {node.split("@")[0] for node in workers or {}}
            time.sleep(0.5)
        assert {"orchestrator", "worker1"} <= names

        tasks: dict[str, Any] = {}
        while time.monotonic() < deadline:
            _, tasks = get(url + "/api/tasks")
            states = {(t["name"], t["state"]) for t in tasks.values()}
            if ("orchestrator.gather_results", "SUCCESS") in states:
                break
            time.sleep(0.5)
        mine = [t for t in tasks.values() if record.job_id in (t.get("kwargs") or "")]
        names = {t["name"] for t in mine}
        assert names >= {
            "orchestrator.run_job",
            "worker.run_subtask",
            "orchestrator.gather_results",
        }
        assert all(t["state"] == "SUCCESS" for t in mine)
        # Arguments shown are short labels, never the prompt text nor the outputs.
        shown = [(t.get("args") or "") + (t.get("kwargs") or "") for t in mine]
        assert all("Flower job" not in text and len(text) < 200 for text in shown), shown
    finally:
        proc.stop()
