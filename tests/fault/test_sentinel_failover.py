"""Redis Sentinel failover mid-job: the master is SIGKILLed while model calls are in flight,
the sentinels promote the replica, and every process (broker, result backend, Chorus's own
clients) follows it to the new master. Nothing is lost, nothing recorded twice."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chorus.contract.events import EventKind
from chorus.contract.models import JobStatus, SubtaskStatus
from chorus.devstack.stack import LocalStack, wait_until
from tests.support.runner import runner_for
from tests.support.sentinel import SENTINEL_PASSWORD, SentinelCluster
from tests.support.simulator_control import SimulatorControl

StackFactory = Callable[..., LocalStack]
JOBS = 3
SUBTASKS = 2


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
            left = max(1.0, 45 - (time.monotonic() - killed_at))
            record = runner.wait(job_id, timeout_s=left)
            assert record.status is JobStatus.SUCCEEDED, record.error
            assert len(record.results) == SUBTASKS
            assert all(r.status is SubtaskStatus.SUCCEEDED for r in record.results)
            assert len(runner.events(job_id, EventKind.SUBTASK_FINISHED)) == SUBTASKS
        print("RECOVERED", time.monotonic() - killed_at)
        # A planned switch-over demotes the master under live connections: writes that reach
        # it now fail READONLY until the clients follow the sentinels to the new master.
        cluster.revive_old_master()
        sim = SimulatorControl(str(stack.simulator_url))
        job_id = runner.submit("Outlive a switch-over", options={"max_subtasks": SUBTASKS})
        # Mid-plan: the subtasks and the gather step are sent, consumed and recorded after.
        wait_until(lambda: int(sim.stats().get("in_flight", 0)) >= 1, timeout_s=20, what="plan")
        cluster.switch_over()
        wait_until(
            lambda: cluster.master_address()[1] == cluster.master_port,
            timeout_s=20,
            what="the switch-over",
        )
        record = runner.wait(job_id, timeout_s=30)
        assert record.status is JobStatus.SUCCEEDED, record.error
        assert len(runner.events(job_id, EventKind.SUBTASK_FINISHED)) == SUBTASKS
        for proc in stack.processes:
            assert proc.alive(), proc.name
            # Every part of the URL carries the data nodes' password (kombu reads the part it
            # has moved on to): no reconnect ever reached Redis unauthenticated.
            assert not re.search("NOAUTH|WRONGPASS|HELLO must be called", proc.log_text())
    finally:
        stack.stop()  # before the data nodes go away
        import shutil; shutil.copytree(stack.workdir, "/tmp/sentinel-logs", dirs_exist_ok=True); shutil.copytree(cluster.workdir, "/tmp/sentinel-logs/cluster", dirs_exist_ok=True)
