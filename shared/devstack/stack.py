"""Start and stop a whole Chorus stack on this machine: Redis, the simulator, the orchestrator,
workers and optionally the API and Flower.

Used by `make demo` (`chorus demo`), `chorus up` and the integration tests, so all three run
the same real processes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from chorus.contract import limits, names
from chorus.devstack.processes import (
    Echo,
    ManagedProcess,
    free_port,
    port_in_use,
    start_api,
    start_celery_worker,
    start_flower,
    start_redis,
    start_simulator,
    wait_until,
)
from chorus.errors import StackError

__all__ = [
    "LocalStack",
    "ManagedProcess",
    "StackError",
    "free_port",
    "port_in_use",
    "start_redis",
    "start_simulator",
    "wait_until",
]


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
        worker_concurrency: int = limits.DEFAULT_WORKER_CONCURRENCY,
        worker_pool: str = limits.DEFAULT_WORKER_POOL,
        orchestrator_concurrency: int = limits.DEFAULT_ORCHESTRATOR_CONCURRENCY,
        extra_env: dict[str, str] | None = None,
        workdir: Path | None = None,
        echo: Echo | None = None,
        redis_appendonly: bool = False,
        redis_port: int | None = None,
        redis_dir: Path | None = None,
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
        self._echo = echo
        self._redis_appendonly = redis_appendonly
        self._redis_port = redis_port
        self._redis_dir = redis_dir

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
            proc, self._redis_url = start_redis(
                self.workdir,
                self._redis_port,
                appendonly=self._redis_appendonly,
                data_dir=self._redis_dir,
            )
            self.processes.append(proc)
            on_step(f"Redis: started redis-server on {self._redis_url} (pid {proc.pid})")
        else:
            on_step("Redis: using REDIS_URL")
        env["REDIS_URL"] = self._redis_url
        if self._use_simulator:
            if self.simulator_url is None:
                proc, self.simulator_url = start_simulator(
                    self.workdir,
                    env,
                    latency_ms=self._latency_ms,
                    plan_size=self._plan_size,
                    echo=self._echo,
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
            queue=names.ORCHESTRATOR_QUEUE,
            node_name=f"{name}@%h",
            concurrency=self._orchestrator_concurrency,
            wait=wait,
            echo=self._echo,
        )
        self.processes.append(proc)
        return proc

    def add_worker(self, name: str, *, wait: bool = True) -> ManagedProcess:
        proc = start_celery_worker(
            self.workdir,
            self.env,
            queue=names.SUBTASKS_QUEUE,
            node_name=f"{name}@%h",
            concurrency=self._worker_concurrency,
            pool=self._worker_pool,
            wait=wait,
            echo=self._echo,
        )
        self.processes.append(proc)
        return proc

    def process(self, role: str) -> ManagedProcess:
        """The running process of a role: `worker1` (node worker1@host), `api`, `redis` …"""
        for proc in self.processes:
            if proc.name.partition("@")[0] == role:
                return proc
        raise StackError(f"no {role} process in this stack")

    def add_api(self, port: int | None = None, env: dict[str, str] | None = None) -> str:
        """`env`: settings for the API alone, beside the stack's (`CHORUS_FLOWER_URL`)."""
        proc, url = start_api(self.workdir, {**self.env, **(env or {})}, port=port, echo=self._echo)
        self.processes.append(proc)
        return url

    def add_flower(self, port: int | None = None) -> str:
        proc, url = start_flower(self.workdir, self.env, port=port, echo=self._echo)
        self.processes.append(proc)
        return url

    def stop(self) -> None:
        # Workers first, Redis last, so nothing loses its broker while shutting down.
        for proc in reversed(self.processes):
            proc.stop()
        self.processes.clear()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
