"""Flower on the Chorus app: behind basic auth, it lists the nodes and a job's tasks."""

from __future__ import annotations

import base64
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from chorus.devstack.stack import LocalStack, ManagedProcess, free_port
from tests.support.runner import JobRunner
from tests.support.waiting import wait_until

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


def hears_events(url: str) -> bool:
    """Whether Flower has had an event from a live worker (its event-fed worker list)."""
    _, alive = get(url + "/api/workers?status=1")
    return isinstance(alive, dict) and any(alive.values())


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
        # Flower's event receiver is live once it has heard a worker's heartbeat event (every
        # 2 s): from then on it sees every task event of the job below.
        wait_until(lambda: hears_events(url), timeout_s=30, what="Flower hearing events")
        record = jobs.run("Flower job", options={"max_subtasks": 2})

        assert get(url + "/api/workers", auth=None)[0] == 401
        names: set[str] = set()

        def both_nodes() -> bool:
            _, workers = get(url + "/api/workers?refresh=1")
            names.update(node.split("@")[0] for node in workers or {})
            return {"orchestrator", "worker1"} <= names

        wait_until(both_nodes, timeout_s=30, every_s=0.5, what=lambda: f"both nodes, not {names}")
        tasks: dict[str, Any] = {}

        def gathered() -> bool:
            nonlocal tasks
            _, tasks = get(url + "/api/tasks")
            states = {(t["name"], t["state"]) for t in tasks.values()}
            return ("orchestrator.gather_results", "SUCCESS") in states

        wait_until(gathered, timeout_s=30, every_s=0.5, what="the gather task in Flower")
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
        # Flower speaks in jobs: its search finds exactly one job's tasks by `kwargs:job=<id>`,
        # a subtask's label names its index and type, the gather's result the job's outcome.
        _, found = get(url + f"/api/tasks?search=kwargs:job={record.job_id}")
        assert {t["uuid"] for t in found.values()} == {t["uuid"] for t in mine}
        labels = [t["kwargs"] for t in mine if t["name"] == "worker.run_subtask"]
        assert {f"'subtask': {r.index}, 'type': '{r.type}'" in " ".join(labels) for r in
                record.results} == {True}  # fmt: skip
        [gather] = [t for t in mine if t["name"] == "orchestrator.gather_results"]
        assert "'status': 'succeeded'" in gather["result"] and "'cost_usd'" in gather["result"]
        # …and where the job's console page is (a path: this stack sets no CHORUS_CONSOLE_URL).
        assert f"'console': '/ui/jobs/{record.job_id}'" in gather["result"], gather["result"]
        status, page = get(url + "/tasks")
        assert status == 200 and ">kwargs<" in page and ">Result<" in page
    finally:
        proc.stop()
