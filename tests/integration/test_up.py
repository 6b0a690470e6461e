"""`chorus up`: the whole stack from one command, a job through its API, Ctrl-C stops all."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from chorus.devstack.stack import free_port, wait_until


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """`chorus up` and every process it started: a test that fails half-way must not leave
    a stack running (its Redis would hold the port the next run wants)."""
    for pid in _children(proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.kill()
    proc.wait(5)


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
        # The console it prints opens without a sign-in on loopback and lists the job.
        assert any(f"Console {api}/ui" in line for line in lines), lines
        with urllib.request.urlopen(f"{api}/ui", timeout=10) as response:  # noqa: S310
            assert response.status == 200 and job_id in response.read().decode()
        # Its job page links to the tasks in the Flower that `up` started.
        with urllib.request.urlopen(f"{api}/ui/jobs/{job_id}", timeout=10) as response:  # noqa: S310
            flower_tasks = f'href="http://127.0.0.1:{flower_port}/tasks"'
            assert flower_tasks in response.read().decode()

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
            _kill_tree(proc)
    output = "".join(lines)
    for role in ("orchestrator |", "worker1 |", "worker2 |", "api |", "simulator |"):
        assert role in output, f"no lines prefixed {role!r}"
    assert job_id in output  # worker log lines carry the job id
    assert "stopped." in output
    # Log files are named after the host, not a literal `%h`.
    logs = [p.name for p in (tmp_path / "data").iterdir()]
    assert f"worker1_{socket.gethostname()}.log" in logs
    assert not [name for name in logs if "%" in name]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "REDIS_"))}


@contextmanager
def _up(*args: str) -> Iterator[list[str]]:
    """`chorus up` with one worker until it is running; its output lines so far (and on)."""
    argv = [sys.executable, "-m", "chorus.cli", "up", "--workers", "1", "--latency-ms", "0", *args]
    env = {**_env(), "COLUMNS": "200"}
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
        yield lines
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            _kill_tree(proc)
        reader.join(5)


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback URL
        return dict(json.loads(response.read()))


def test_up_with_a_data_dir_keeps_the_jobs_across_a_restart(tmp_path: Path) -> None:
    data, api_port, redis_port = tmp_path / "data", free_port(), free_port()
    ports = ["--api-port", str(api_port), "--flower-port", str(free_port())]
    api = f"http://127.0.0.1:{api_port}"
    with _up("--data-dir", str(data), "--redis-port", str(redis_port), *ports):
        body = json.dumps({"task": "Remember me", "options": {"max_subtasks": 2}}).encode()
        request = urllib.request.Request(api + "/v1/jobs", data=body, method="POST")  # noqa: S310
        request.add_header("content-type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            job_id = json.loads(response.read())["job_id"]
        wait_until(
            lambda: _get(f"{api}/v1/jobs/{job_id}")["status"] == "succeeded",
            timeout_s=60,
            what="the job",
        )

    # Its port taken meanwhile: Redis moves to another port, with the same data.
    ports = ["--api-port", str(api_port), "--flower-port", str(free_port())]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", redis_port))
        holder.listen(1)
        with _up("--data-dir", str(data), "--redis-port", str(redis_port), *ports) as lines:
            assert _get(f"{api}/v1/jobs/{job_id}")["status"] == "succeeded"
            output = "".join(lines)
            assert f"Redis port {redis_port} is in use" in output
            new_url = re.search(r"REDIS_URL=(redis://127\.0\.0\.1:\d+/0)", output).group(1)  # type: ignore[union-attr]
            status = subprocess.run(
                [sys.executable, "-m", "chorus.cli", "status", job_id],
                env={**_env(), "REDIS_URL": new_url},
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            assert status.returncode == 0, status.stderr
            assert f"{job_id} succeeded" in status.stdout
    assert (data / "redis").is_dir()


def test_up_with_its_api_port_taken_exits_at_once_naming_the_port(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        argv = [sys.executable, "-m", "chorus.cli", "up", "--api-port", str(port),
                "--flower-port", str(free_port()), "--redis-port", str(free_port()),
                "--data-dir", str(tmp_path / "data")]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(
            argv,
            env={**_env(), "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode != 0
    assert time.monotonic() - started < 15  # nothing was started, nothing waited for
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and f"port {port} is already in use" in lines[0], lines
    assert "Traceback" not in done.stderr
