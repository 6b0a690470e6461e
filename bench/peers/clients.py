"""The peers' worker processes and the clients that submit the workload to them and time it:
a plan message per job, then the job's record in Redis (polled for all pending jobs at once)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

import redis
from arq.connections import ArqRedis, RedisSettings, create_pool
from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker

from bench.peers import common
from bench.systems import BenchError, JobTiming
from chorus.devstack.stack import ManagedProcess, StackError, wait_until

TIMEOUT_S = 120.0
POLL_S = 0.01  # as the Chorus client polls its records
DRAMATIQ_THREADS = 1000  # greenlets in the one worker process
READY = {"arq": "Starting worker for", "dramatiq": "is ready for action"}


def start_worker(name: str, workdir: Path, env: dict[str, str]) -> ManagedProcess:
    """One worker process for the peer `name` (dramatiq's CLI forks its one worker process
    from a parent that supervises it: the worker is `children(pid)`)."""
    if name == "arq":
        argv = [sys.executable, "-m", "arq", "bench.peers.arq_app.WorkerSettings"]
    else:
        argv = [
            str(Path(sys.executable).parent / "dramatiq-gevent"), "bench.peers.dramatiq_app",
            "--processes", "1", "--threads", str(DRAMATIQ_THREADS),
        ]  # fmt: skip
    proc = ManagedProcess(name, argv, env=env, log_path=workdir / f"peer-{name}.log")

    def ready() -> bool:
        if not proc.alive():
            raise StackError(f"{name} worker exited early:\n{proc.log_text()[-2000:]}")
        return READY[name] in proc.log_text()

    try:
        wait_until(ready, timeout_s=60, what=f"the {name} worker")
    except BaseException:
        proc.stop()
        raise
    return proc


class PeerSystem:
    """Submit plan messages; a job is done when its record is in Redis."""

    name = "peer"

    def __init__(self, redis_url: str) -> None:
        self._redis = redis.Redis.from_url(redis_url, decode_responses=True)

    def _send(self, job_id: str, subtasks: int) -> None:
        raise NotImplementedError

    def _wait(self, job_ids: list[str], subtasks: int) -> list[float]:
        """In-system seconds of each job, once every record is there."""
        pending = {common.record_key(j): j for j in job_ids}
        found: list[float] = []
        deadline = time.monotonic() + TIMEOUT_S
        while pending:
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name}: {len(pending)} jobs not done in {TIMEOUT_S} s")
            keys = list(pending)
            for key, raw in zip(keys, self._redis.mget(keys), strict=True):
                if raw is None:
                    continue
                del pending[key]
                record = json.loads(raw)
                if len(record["outputs"]) != subtasks:
                    raise BenchError(f"{self.name} {key}: {len(record['outputs'])} outputs")
                found.append(float(record["finished"] - record["started"]))
            if pending:
                time.sleep(POLL_S)
        return found

    def one(self, subtasks: int) -> JobTiming:
        start = time.perf_counter()
        job_id = str(uuid.uuid4())
        self._send(job_id, subtasks)
        (in_system,) = self._wait([job_id], subtasks)
        return JobTiming(in_system, time.perf_counter() - start)

    def batch(self, jobs: int, subtasks: int) -> float:
        start = time.perf_counter()
        job_ids = [str(uuid.uuid4()) for _ in range(jobs)]
        for job_id in job_ids:
            self._send(job_id, subtasks)
        self._wait(job_ids, subtasks)
        return time.perf_counter() - start

    def retries(self) -> int:
        return int(self._redis.get(common.RETRIES_KEY) or 0)

    def close(self) -> None:
        self._redis.close()


class ArqSystem(PeerSystem):
    name = "arq"

    def __init__(self, redis_url: str) -> None:
        super().__init__(redis_url)
        self._runner = asyncio.Runner()
        self._pool: ArqRedis = self._runner.run(create_pool(RedisSettings.from_dsn(redis_url)))

    def _send(self, job_id: str, subtasks: int) -> None:
        self._runner.run(self._pool.enqueue_job("plan", job_id, subtasks))

    def close(self) -> None:
        self._runner.run(self._pool.aclose())
        self._runner.close()
        super().close()


class DramatiqSystem(PeerSystem):
    name = "dramatiq"

    def __init__(self, redis_url: str) -> None:
        super().__init__(redis_url)
        self._broker = RedisBroker(url=redis_url)  # type: ignore[no-untyped-call]

    def _send(self, job_id: str, subtasks: int) -> None:
        message: Message[None] = Message(
            queue_name="default",
            actor_name="plan",
            args=(job_id, subtasks),
            kwargs={},
            options={},
        )
        self._broker.enqueue(message)

    def close(self) -> None:
        self._broker.close()
        super().close()
