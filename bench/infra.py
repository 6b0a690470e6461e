"""The processes of one benchmark run: one private redis-server, one simulator per latency,
the bare chord's two Celery workers and the Chorus stacks. Everything started here is stopped
here, by pid; the machine's own Redis is never used."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from bench import bare_chord
from bench.workload import SIMULATOR_PLAN_SIZE
from chorus.contract import limits, names
from chorus.devstack.processes import start_celery_worker
from chorus.devstack.stack import (
    LocalStack,
    ManagedProcess,
    StackError,
    start_redis,
    start_simulator,
    wait_until,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
BARE_DB = 15  # its own database: its result keys stay out of Chorus's key counts


class Infra:
    # The key of the realistic-profile simulator in `simulators` (the others are keyed by
    # their fixed latency in ms).
    REALISTIC = "realistic"

    def __init__(self, latencies_ms: list[float]) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="chorus-bench-"))
        self._latencies = latencies_ms
        self._own: list[ManagedProcess] = []  # stopped last, in reverse start order
        self._stacks: list[LocalStack] = []
        self._redis_url = ""
        self.simulators: dict[float | str, str] = {}
        self.simulator_pids: dict[float | str, int] = {}
        self.redis_pid = 0
        self.bare_pids: dict[str, int] = {}

    def __enter__(self) -> Infra:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        if exc is None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        else:
            print(f"process logs kept in {self.workdir}")

    def redis_url(self, db: int) -> str:
        return self._redis_url.rsplit("/", 1)[0] + f"/{db}"

    def env(self) -> dict[str, str]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # Offline by design: a key in the caller's shell must not send this load to the API.
        env.pop("ANTHROPIC_API_KEY", None)
        env.pop("ANTHROPIC_BASE_URL", None)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        return env

    def _start(self) -> None:
        redis_proc, self._redis_url = start_redis(self.workdir)
        self._own.append(redis_proc)
        self.redis_pid = redis_proc.pid
        env = self.env()

        def simulator(latency: float) -> tuple[float, ManagedProcess, str]:
            proc, url = start_simulator(
                self.workdir, env, latency_ms=latency, plan_size=SIMULATOR_PLAN_SIZE
            )
            return latency, proc, url

        # Started side by side: each one spends its start-up importing, mostly waiting on I/O.
        with ThreadPoolExecutor(max(1, len(self._latencies))) as pool:
            for latency, proc, url in pool.map(simulator, self._latencies):
                self._own.append(proc)
                self.simulators[latency] = url
                self.simulator_pids[latency] = proc.pid

    def realistic_simulator(self, flags: Sequence[str]) -> str:
        """One more simulator, on the realistic profile with these flags on top."""
        if self.REALISTIC not in self.simulators:
            proc, url = start_simulator(
                self.workdir,
                self.env(),
                latency_ms=None,
                plan_size=SIMULATOR_PLAN_SIZE,
                profile="realistic",
                extra_args=flags,
            )
            self._own.append(proc)
            self.simulators[self.REALISTIC] = url
            self.simulator_pids[self.REALISTIC] = proc.pid
        return self.simulators[self.REALISTIC]

    def own_simulator(self, key: str, flags: Sequence[str]) -> str:
        """One more simulator on the default profile with these flags, kept under `key` (a
        section whose calls need a shape of their own: a base latency plus generation time)."""
        if key not in self.simulators:
            proc, url = start_simulator(
                self.workdir,
                self.env(),
                latency_ms=None,
                plan_size=SIMULATOR_PLAN_SIZE,
                extra_args=flags,
            )
            self._own.append(proc)
            self.simulators[key] = url
            self.simulator_pids[key] = proc.pid
        return self.simulators[key]

    def start_bare(self) -> None:
        """The bare chord's plan worker and work worker, at Chorus's pool and concurrencies."""
        env = {**self.env(), bare_chord.REDIS_URL_ENV: self.redis_url(BARE_DB)}
        procs = []
        for queue, concurrency in (
            (bare_chord.PLAN_QUEUE, limits.DEFAULT_ORCHESTRATOR_CONCURRENCY),
            (bare_chord.WORK_QUEUE, limits.DEFAULT_WORKER_CONCURRENCY),
        ):
            argv = [
                sys.executable, "-m", "celery", "-A", "bench.bare_chord", "worker",
                "-Q", queue, "-n", f"{queue}@%h", "-P", "threads", "-c", str(concurrency),
                "--loglevel", "INFO", "--without-gossip", "--without-mingle",
            ]  # fmt: skip
            log_path = self.workdir / f"{queue}.log"
            proc = ManagedProcess(queue, argv, env=env, log_path=log_path)
            self._own.append(proc)
            procs.append(proc)
            self.bare_pids[queue] = proc.pid
        for proc in procs:
            _wait_ready(proc)

    def chorus(
        self,
        latency_ms: float | str,
        db: int,
        *,
        workers: int = 1,
        env: dict[str, str] | None = None,
    ) -> LocalStack:
        """A Chorus stack as `chorus up` runs it (threads pools, default concurrencies), on
        the shared Redis and simulator; `env` adds settings (CHORUS_...)."""
        stack = LocalStack(
            redis_url=self.redis_url(db),
            simulator_url=self.simulators[latency_ms],
            workers=workers,
            workdir=self.workdir / f"chorus-{db}",
            extra_env={"PYTHONPATH": self.env()["PYTHONPATH"], **(env or {})},
        )
        stack.workdir.mkdir(exist_ok=True)
        self._stacks.append(stack)
        return stack.start()

    def add_worker(
        self, stack: LocalStack, name: str, *, pool: str = "threads", concurrency: int | None = None
    ) -> ManagedProcess:
        """One more Chorus worker process on the stack's `subtasks` queue."""
        proc = start_celery_worker(
            stack.workdir,
            stack.env,
            queue=names.SUBTASKS_QUEUE,
            node_name=f"{name}@%h",
            concurrency=concurrency or limits.DEFAULT_WORKER_CONCURRENCY,
            pool=pool,
            wait=False,
        )
        stack.processes.append(proc)
        _wait_ready(proc)
        return proc

    @staticmethod
    def remove_worker(stack: LocalStack, proc: ManagedProcess) -> None:
        proc.stop()
        stack.processes.remove(proc)

    @staticmethod
    def chorus_workers(stack: LocalStack) -> list[ManagedProcess]:
        return [p for p in stack.processes if p.name.startswith("worker")]

    def stop_chorus(self, stack: LocalStack) -> None:
        # Only Celery processes here (Redis and the simulator are the run's): each one's warm
        # shutdown takes a second or two, so they go down side by side.
        _stop_all(stack.processes)
        stack.processes.clear()
        if stack in self._stacks:
            self._stacks.remove(stack)

    def stop(self) -> None:
        for stack in list(self._stacks):
            self.stop_chorus(stack)
        redis_first_started = self._own[:1]
        _stop_all(self._own[1:])
        _stop_all(redis_first_started)  # last, so nothing loses its broker while stopping
        self._own.clear()


def _stop_all(procs: list[ManagedProcess]) -> None:
    if procs:
        with ThreadPoolExecutor(len(procs)) as pool:
            list(pool.map(lambda proc: proc.stop(), procs))


def _wait_ready(proc: ManagedProcess) -> None:
    def ready() -> bool:
        if not proc.alive():
            raise StackError(f"{proc.name} exited early:\n{proc.log_text()[-2000:]}")
        return " ready." in proc.log_text()

    wait_until(ready, timeout_s=90, what=f"celery worker {proc.name}")
