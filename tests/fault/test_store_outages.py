"""Redis away longer than any client retries, and Redis refusing writes out of memory, with
model calls in flight: every job still ends final, soon after Redis is back, and every
paid-for output is on record once. Default reconciler settings: the bound is the product's."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from chorus.contract import names
from chorus.contract.events import EventKind
from chorus.contract.models import JobStatus
from chorus.devstack.stack import LocalStack, start_redis, wait_until
from chorus.runtime.redelivery import KOMBU_UNACKED
from tests.support.runner import JobRunner, runner_for
from tests.support.simulator_control import SimulatorControl

pytestmark = pytest.mark.fault

StackFactory = Callable[..., LocalStack]
OUTAGE_S = 90
# The bound: from Redis back (or memory freed) to every affected job final.
RECOVERY_S = 60


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def _assert_complete_once(runner: JobRunner, job_ids: list[str], subtasks: int) -> None:
    for job_id in job_ids:
        record = runner.store.get(job_id)
        assert record.status is JobStatus.SUCCEEDED, (job_id, record.error)
        assert len(record.results) == subtasks
        assert all(r.output for r in record.results)
        # Stored and announced once per subtask, whatever was redelivered.
        assert len(runner.events(job_id, EventKind.SUBTASK_FINISHED)) == subtasks


def _wait_final(runner: JobRunner, job_ids: list[str], since: float) -> float:
    for job_id in job_ids:
        left = RECOVERY_S - (time.monotonic() - since)
        runner.wait(job_id, timeout_s=max(left, 0.1))
    return time.monotonic() - since


@pytest.mark.long
@pytest.mark.timeout(OUTAGE_S + RECOVERY_S + 90)
def test_redis_down_90s_with_calls_in_flight(stack_factory: StackFactory, workdir: Path) -> None:
    data = workdir / "outage-redis"
    redis_proc, url = start_redis(workdir, appendonly=True, data_dir=data)
    stack: LocalStack | None = None
    try:
        stack = stack_factory(
            redis_url=url, workers=1, simulator_latency_ms=3000, simulator_plan_size=3
        )
        runner = runner_for(stack)
        sim = SimulatorControl(str(stack.simulator_url))
        job_ids = [
            runner.submit(f"Outlive outage {n}", options={"max_subtasks": 3}) for n in range(3)
        ]
        for job_id in job_ids:
            runner.wait_started(job_id, 3, timeout_s=45)
        redis_proc.stop()  # SIGTERM: the append-only file is flushed
        time.sleep(OUTAGE_S)  # the outage itself (its length is the point, not a wait)
        assert sim.stats()["in_flight"] == 0  # every call in flight ended during it
        redis_proc, _ = start_redis(workdir, port=_port(url), appendonly=True, data_dir=data)
        back = time.monotonic()

        took = _wait_final(runner, job_ids, back)
        print(f"every job final {took:.1f}s after Redis came back")
        _assert_complete_once(runner, job_ids, 3)
        # The replies of the calls in flight were kept and stored, not bought again: one
        # planning call and three worker calls per job, nothing more.
        assert int(sim.stats()["requests_total"]) == len(job_ids) * (1 + 3)
    except BaseException:
        if stack is not None:
            _print_warnings(stack)
        raise
    finally:
        if stack is not None:
            stack.stop()
        redis_proc.stop()


@pytest.mark.timeout(150)
def test_redis_out_of_memory_for_10s_mid_job(stack_factory: StackFactory, workdir: Path) -> None:
    redis_proc, url = start_redis(workdir, appendonly=False)
    stack: LocalStack | None = None
    try:
        stack = stack_factory(
            redis_url=url, workers=1, simulator_latency_ms=1500, simulator_plan_size=3
        )
        runner = runner_for(stack)
        sim = SimulatorControl(str(stack.simulator_url))
        admin = redis.Redis.from_url(url, decode_responses=True)
        job_ids = [runner.submit(f"Outlive OOM {n}", options={"max_subtasks": 3}) for n in range(3)]
        runner.wait_started(job_ids[0], 1, timeout_s=45)
        used = int(admin.info("memory")["used_memory"])
        admin.config_set("maxmemory", str(used // 2))  # every write refused from now on
        wait_until(lambda: _refuses_writes(admin), timeout_s=5, what="Redis refusing writes")
        time.sleep(10)  # not a wait for anything: the full store is held for 10 s on purpose
        admin.config_set("maxmemory", "0")
        freed = time.monotonic()

        took = _wait_final(runner, job_ids, freed)
        print(f"every job final {took:.1f}s after memory was freed")
        _assert_complete_once(runner, job_ids, 3)
        # Replies that could not be stored while the store was full were kept and stored
        # once it had room, not bought again: one planning and three worker calls per job.
        assert int(sim.stats()["requests_total"]) == len(job_ids) * (1 + 3)
        # Nothing is left reserved in kombu's bookkeeping outside every process's ledger.
        wait_until(
            lambda: _unacked_all_held(admin), timeout_s=30, what="unacked deliveries all held"
        )
    except BaseException:
        if stack is not None:
            _print_warnings(stack)
        raise
    finally:
        if stack is not None:
            stack.stop()
        redis_proc.stop()


def _print_warnings(stack: LocalStack) -> None:
    """On failure, what the processes warned about: the report shows it."""
    for proc in stack.processes:
        for line in proc.log_text().splitlines():
            if any(f'"{level}"' in line for level in ("WARNING", "ERROR", "CRITICAL")):
                print(proc.name, line[:400])


def _refuses_writes(admin: redis.Redis) -> bool:
    try:
        admin.set("chorus:test:probe", "x" * 1000)
    except redis.exceptions.OutOfMemoryError:
        return True
    return False


def _unacked_all_held(admin: redis.Redis) -> bool:
    held = {
        str(tag)
        for instance in admin.smembers(names.LEDGERS_KEY)
        for tag in admin.hkeys(names.ledger_key(str(instance)))
    }
    return set(admin.hkeys(KOMBU_UNACKED)) <= held
