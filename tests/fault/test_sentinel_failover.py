"""Redis Sentinel failover mid-job: the master is SIGKILLed while model calls are in flight,
the sentinels promote the replica, and every process (broker, result backend, Chorus's own
clients) follows it to the new master. Nothing is lost, nothing recorded twice."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chorus.contract.events import EventKind
from chorus.contract.models import JobStatus, SubtaskStatus
from chorus.devstack.stack import LocalStack, wait_until
from chorus.settings import Settings
from chorus.store.connection import async_redis_client
from tests.support.runner import runner_for
from tests.support.sentinel import SENTINEL_PASSWORD, SentinelCluster

StackFactory = Callable[..., LocalStack]
JOBS = 3
SUBTASKS = 2


async def _async_round_trip(settings: Settings) -> object:
    client = async_redis_client(settings, max_connections=2)
    try:
        await client.set("sentinel-probe", "ok")
        return await client.get("sentinel-probe")
    finally:
        await client.aclose()


@pytest.fixture
def cluster(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SentinelCluster]:
    # The test's own clients and every stack process read it from the environment.
    monkeypatch.setenv("CHORUS_REDIS_SENTINEL_PASSWORD", SENTINEL_PASSWORD)
    started = SentinelCluster(workdir / f"sentinel-{time.monotonic_ns()}").start()
    yield started
    started.stop()


def test_master_killed_mid_job_every_job_finishes_on_the_promoted_replica(
    cluster: SentinelCluster, stack_factory: StackFactory
) -> None:
    stack = stack_factory(
        redis_url=cluster.url, workers=1, simulator_latency_ms=2000, simulator_plan_size=SUBTASKS
    )
    try:
        runner = runner_for(stack)
        job_ids = [
            runner.submit(f"Outlive a failover {n}", options={"max_subtasks": SUBTASKS})
            for n in range(JOBS)
        ]
        for job_id in job_ids:
            runner.wait_started(job_id, SUBTASKS)
        cluster.master.kill()  # SIGKILL: no shutdown, no final AOF flush
        killed_at = time.monotonic()
        wait_until(
            lambda: cluster.master_address()[1] == cluster.replica_port,
            timeout_s=20,
            what="the sentinels to promote the replica",
        )

        for job_id in job_ids:
            left = max(1.0, 30 - (time.monotonic() - killed_at))
            record = runner.wait(job_id, timeout_s=left)
            assert record.status is JobStatus.SUCCEEDED, record.error
            assert len(record.results) == SUBTASKS
            assert all(r.status is SubtaskStatus.SUCCEEDED for r in record.results)
            assert len(runner.events(job_id, EventKind.SUBTASK_FINISHED)) == SUBTASKS
        # The API's asyncio client finds the new master too.
        assert asyncio.run(_async_round_trip(runner.settings)) == "ok"
        # Still consuming from the new master: a job submitted now runs through.
        again = runner.run("After the failover", options={"max_subtasks": 1}, timeout_s=30)
        assert again.status is JobStatus.SUCCEEDED
        for proc in stack.processes:
            assert proc.alive(), proc.name
            # Every part of the URL carries the data nodes' password (kombu reads the part it
            # has moved on to): no reconnect ever reached Redis unauthenticated.
            assert not re.search("NOAUTH|WRONGPASS|HELLO must be called", proc.log_text())
    finally:
        stack.stop()  # before the data nodes go away
