"""Capacity (issue #18, docs/scaling.md): what one job costs Redis, measured on Chorus's default
stack (one orchestrator, one worker process) at 0 ms per call. Batches of N jobs at 1, 5 and 10
subtasks, in turns, each repeated; per batch Redis commands (INFO commandstats: commands run
inside Lua scripts and MULTI blocks count one by one), socket reads (about one per round trip),
Redis CPU, network bytes and the orchestrator's and worker's CPU, per job. A least-squares line
through the three medians splits each cost into per job (fixed) and per subtask. Then the Redis
memory a batch of finished 5-subtask jobs keeps.

The client waits without per-job polling (one HMGET of the fleet's finished counters every
0.25 s), so its own share of the commands stays small; it counts every command it sends."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis
import redis.connection
from celery import Celery

from bench import workload
from bench.capacity_memory import memory_kept
from bench.infra import Infra
from bench.report_capacity import summarise
from bench.resources import cpu_seconds
from bench.systems import BenchError, ChorusSystem
from chorus.contract import names
from chorus.contract.models import JobRecord, JobStatus
from chorus.core import metrics
from chorus.core.submission import build_request
from chorus.runtime.app import create_celery_app
from chorus.runtime.enqueue import enqueue_job
from chorus.settings import Settings

LATENCY_MS = 0.0
# Every database has a section; throughput's stack (db 1) is stopped before this one runs, and
# its leftovers (ledgers, counters) are flushed so they cannot add work to the measured batches.
CAPACITY_DB = 1
POINTS = (1, 5, 10)
POLL_S = 0.25
SETTLE_S = 0.5  # the gather's last trigger and Celery's result writes land just after final
IDLE_S = 3.0
TIMEOUT_S = 300.0
QUEUES = [names.ORCHESTRATOR_QUEUE, names.SUBTASKS_QUEUE]
FINAL_FIELDS = [metrics.jobs_finished_field(s) for s in JobStatus if s.is_final]


class Counter:
    """Commands sent by this process since the last reset."""

    n: int = 0


@contextmanager
def client_commands() -> Iterator[Counter]:
    """Counts the Redis commands this process sends (kombu's publishes included): redis-py
    sends a lone command through send_command and a pipeline through pack_commands."""
    cls = redis.connection.AbstractConnection
    send: Callable[..., Any] = cls.send_command
    pack: Callable[..., Any] = cls.pack_commands
    counter = Counter()

    def counted_send(conn: Any, *args: Any, **kwargs: Any) -> Any:
        counter.n += 1
        return send(conn, *args, **kwargs)

    def counted_pack(conn: Any, commands: Any) -> Any:
        commands = list(commands)
        counter.n += len(commands)
        return pack(conn, commands)

    setattr(cls, "send_command", counted_send)  # noqa: B010 (mypy: no assigning to a method)
    setattr(cls, "pack_commands", counted_pack)  # noqa: B010
    try:
        yield counter
    finally:
        setattr(cls, "send_command", send)  # noqa: B010
        setattr(cls, "pack_commands", pack)  # noqa: B010


def _finished(r: redis.Redis) -> int:
    return sum(int(v or 0) for v in r.hmget(names.METRICS_KEY, FINAL_FIELDS))


def _quiet(r: redis.Redis) -> bool:
    with r.pipeline(transaction=False) as pipe:
        pipe.hlen("unacked")
        for queue in QUEUES:
            pipe.llen(queue)
        return not any(pipe.execute())


def _wait(r: redis.Redis, done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not done():
        if time.monotonic() > deadline:
            raise BenchError(f"capacity: {what} not reached in {TIMEOUT_S:.0f} s")
        time.sleep(POLL_S)


def _main_thread_cpu_s(r: redis.Redis) -> float:
    """Redis's main thread, which runs every command: the one core it can saturate (INFO's
    getrusage figures, to the microsecond; /proc's are in 10 ms ticks)."""
    cpu = r.info("cpu")
    return float(cpu["used_cpu_sys_main_thread"]) + float(cpu["used_cpu_user_main_thread"])


def _server(r: redis.Redis) -> dict[str, Any]:
    stats = r.info("stats")
    calls = {
        name.removeprefix("cmdstat_"): int(stat["calls"])
        for name, stat in r.info("commandstats").items()
    }
    return {
        "commands": sum(calls.values()),
        "calls": calls,
        "socket_reads": int(stats["total_reads_processed"]),
        "net_in_bytes": int(stats["total_net_input_bytes"]),
        "net_out_bytes": int(stats["total_net_output_bytes"]),
    }


class Batches:
    """Submits and awaits batches on one Chorus stack; measures each from a CONFIG RESETSTAT."""

    def __init__(self, infra: Infra, url: str, pids: dict[str, int], counter: Counter) -> None:
        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._app: Celery = create_celery_app(Settings(redis_url=url, anthropic_api_key=None))
        self._pids = {"redis": infra.redis_pid, **pids}
        self._counter = counter

    def submit_and_wait(
        self, jobs: int, subtasks: int, probe: Callable[[redis.Redis], None] | None = None
    ) -> tuple[list[str], float, int]:
        """Job ids, seconds until all were final, and the commands sent to submit them;
        `probe` looks at Redis at every poll."""
        before = _finished(self._redis)

        def done() -> bool:
            if probe is not None:
                probe(self._redis)
            return _finished(self._redis) - before >= jobs

        start, sent = time.perf_counter(), self._counter.n
        payload = workload.payload(subtasks)
        ids = [enqueue_job(self._app, build_request(payload)) for _ in range(jobs)]
        submitted = self._counter.n - sent
        _wait(self._redis, done, f"{jobs} jobs final")
        wall = time.perf_counter() - start
        _wait(self._redis, lambda: _quiet(self._redis), "empty queues")
        time.sleep(SETTLE_S)
        return ids, wall, submitted

    def measure(self, jobs: int, subtasks: int) -> dict[str, Any]:
        main = _main_thread_cpu_s(self._redis)
        cpu = {name: cpu_seconds(pid) for name, pid in self._pids.items()}
        self._counter.n = 0
        self._redis.config_resetstat()
        ids, wall, submitted = self.submit_and_wait(jobs, subtasks)
        sent = self._counter.n  # before the INFO calls below, which are outside the window
        cpu = {name: cpu_seconds(pid) - cpu[name] for name, pid in self._pids.items()}
        main = _main_thread_cpu_s(self._redis) - main
        server = _server(self._redis)
        usage = self.check(ids, subtasks)  # after the window: its GETs are not counted
        top = sorted(server["calls"].items(), key=lambda kv: -kv[1])[:12]
        return {
            "wall_s": round(wall, 3),
            "commands": server["commands"] / jobs,
            "socket_reads": server["socket_reads"] / jobs,
            "redis_cpu_ms": main * 1000 / jobs,
            "redis_process_cpu_ms": cpu["redis"] * 1000 / jobs,
            "net_in_bytes": server["net_in_bytes"] / jobs,
            "net_out_bytes": server["net_out_bytes"] / jobs,
            "orchestrator_cpu_ms": cpu["orchestrator"] * 1000 / jobs,
            "worker_cpu_ms": cpu["worker"] * 1000 / jobs,
            "client_commands": sent,
            # Submitting is part of the job (the API sends the same: LPUSH, the task-sent
            # event, and Celery's result SUBSCRIBE and UNSUBSCRIBE); waiting is the bench's.
            "client_submit_commands": submitted,
            "client_share": (sent - submitted) / max(1, server["commands"]),
            "top_commands_per_job": {name: round(n / jobs, 2) for name, n in top},
            "job": usage,
        }

    def check(self, ids: list[str], subtasks: int) -> dict[str, Any]:
        """Every job succeeded with its subtasks (one pipelined read); one job's model calls."""
        with self._redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.get(names.job_key(job_id))
            raws = pipe.execute()
        records = [JobRecord.model_validate_json(raw) for raw in raws if raw is not None]
        bad = [
            f"{r.job_id}: {r.status.value}, {r.subtasks_total} subtasks"
            for r in records
            if r.status is not JobStatus.SUCCEEDED or r.subtasks_total != subtasks
        ]
        if bad or len(records) != len(ids):
            raise BenchError(f"capacity: {len(ids) - len(records)} missing; {bad[:3]}")
        one = records[0]
        synthesis = one.synthesis_usage.input_tokens + one.synthesis_usage.output_tokens
        return {
            "model_calls": 1 + len(one.results) + (1 if synthesis else 0),
            "input_tokens": one.usage.input_tokens,
            "output_tokens": one.usage.output_tokens,
            "planning_input_tokens": one.planning_usage.input_tokens,
            "planning_output_tokens": one.planning_usage.output_tokens,
        }

    def idle(self, seconds: float) -> dict[str, float]:
        """The stack's own background traffic (heartbeats, broker polls, reconciler), per s."""
        before = _main_thread_cpu_s(self._redis)
        self._redis.config_resetstat()
        time.sleep(seconds)
        main = _main_thread_cpu_s(self._redis) - before
        server = _server(self._redis)
        return {
            "commands_per_s": round(server["commands"] / seconds, 1),
            "socket_reads_per_s": round(server["socket_reads"] / seconds, 1),
            "redis_cpu_ms_per_s": round(main * 1000 / seconds, 2),
        }

    def close(self) -> None:
        self._redis.close()
        self._app.close()


def _in_turns(points: tuple[int, ...], repeats: int) -> Iterator[int]:
    for index in range(repeats):
        shift = index % len(points)
        yield from points[shift:] + points[:shift]


def run(infra: Infra, *, jobs: int, repeats: int) -> dict[str, Any]:
    url = infra.redis_url(CAPACITY_DB)
    flusher = redis.Redis.from_url(url)
    flusher.flushdb()
    flusher.close()
    stack = infra.chorus(LATENCY_MS, CAPACITY_DB)
    pids = {"orchestrator": stack.processes[0].pid, "worker": infra.chorus_workers(stack)[0].pid}
    warm = ChorusSystem(url)
    try:
        warm.batch(2, 5)  # a fresh process builds its clients on its first calls
    finally:
        warm.close()
    samples: dict[int, list[dict[str, Any]]] = {n: [] for n in POINTS}
    with client_commands() as counter:
        batches = Batches(infra, url, pids, counter)
        try:
            idle = batches.idle(IDLE_S)
            for subtasks in _in_turns(POINTS, max(3, repeats)):
                samples[subtasks].append(batches.measure(jobs, subtasks))
            memory = memory_kept(batches.submit_and_wait, url, jobs, QUEUES)
        finally:
            batches.close()
            infra.stop_chorus(stack)
    return {"capacity": summarise(samples, idle, memory, jobs, LATENCY_MS)}
