"""`chorus up`: the whole stack from one command, a job through its API, Ctrl-C stops all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from chorus.devstack.stack import free_port, wait_until


def _children(pid: int) -> set[int]:
    """Every descendant of `pid`, read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_up_runs_the_stack_serves_a_job_and_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    api_port, flower_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "REDIS_"))}
    argv = [sys.executable, "-m", "chorus.cli", "up", "--workers", "2", "--latency-ms", "50",
            "--api-port", str(api_port), "--flower-port", str(flower_port),
            "--data-dir", str(tmp_path / "data")]  # fmt: skip
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(raw.decode(errors="replace") for raw in proc.stdout or []),
        daemon=True,
    )
    reader.start()
    try:
        wait_until(
            lambda: proc.poll() is None and any("Chorus is running" in x for x in lines),
            timeout_s=120,
            what="chorus up",
        )
        api = f"http://127.0.0.1:{api_port}"
        body = json.dumps({"task": "Hello from up", "options": {"max_subtasks": 4}}).encode()
        request = urllib.request.Request(api + "/v1/jobs", data=body, method="POST")  # noqa: S310
        request.add_header("content-type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            job_id = json.loads(response.read())["job_id"]

        def finished() -> bool:
            with urllib.request.urlopen(f"{api}/v1/jobs/{job_id}", timeout=10) as response:  # noqa: S310
                return bool(json.loads(response.read())["status"] == "succeeded")

        wait_until(finished, timeout_s=60, what="the job through chorus up")
        with urllib.request.urlopen(f"{api}/readyz", timeout=10) as response:  # noqa: S310
            assert json.loads(response.read())["ready"] is True
        with urllib.request.urlopen(f"http://127.0.0.1:{flower_port}/healthcheck") as response:
            assert response.status == 200

        children = _children(proc.pid)
        assert len(children) >= 6  # redis, simulator, orchestrator, 2 workers, api, flower
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        reader.join(5)
        wait_until(
            lambda: not any(_alive(pid) for pid in children), timeout_s=10, what="children gone"
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    output = "".join(lines)
    for role in ("orchestrator |", "worker1 |", "worker2 |", "api |", "simulator |"):
        assert role in output, f"no lines prefixed {role!r}"
    assert job_id in output  # worker log lines carry the job id
    assert "stopped." in output
