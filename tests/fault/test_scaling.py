"""Scaling out and stopping: several worker processes share a job; SIGTERM loses nothing."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable

import pytest

from chorus.contract.events import EventKind
from chorus.contract.models import JobStatus, SubtaskStatus
from chorus.devstack.stack import LocalStack
from tests.support.runner import runner_for
from tests.support.simulator_control import SimulatorControl

StackFactory = Callable[..., LocalStack]


def test_two_worker_processes_share_the_subtasks_of_one_job(stack_factory: StackFactory) -> None:
    # Two calls in flight per process, six subtasks: both processes must take part.
    stack = stack_factory(
        workers=2, worker_concurrency=2, simulator_latency_ms=300, simulator_plan_size=6
    )
    runner = runner_for(stack)
    record = runner.run("Six angles on one question", options={"max_subtasks": 6}, timeout_s=60)

    assert record.status is JobStatus.SUCCEEDED
    assert len(record.results) == 6
    nodes = {r.worker for r in record.results}
    assert len(nodes) == 2 and all(n and n.startswith(("worker1@", "worker2@")) for n in nodes)

    # Logs are JSON lines, and each subtask's lines carry its job and index.
    lines = [
        json.loads(line)
        for proc in (stack.process("worker1"), stack.process("worker2"))
        for line in proc.log_text().splitlines()
        if line.startswith("{")
    ]
    mine = [line for line in lines if line.get("job_id") == record.job_id]
    assert {line["subtask"] for line in mine} == set(range(6))
    assert {line["role"] for line in mine} == {"worker1", "worker2"}


@pytest.mark.fault
def test_sigterm_mid_job_lets_in_flight_calls_finish(stack_factory: StackFactory) -> None:
    stack = stack_factory(workers=1, worker_concurrency=8, simulator_latency_ms=2500,
                          simulator_plan_size=3)  # fmt: skip
    runner = runner_for(stack)
    job_id = runner.submit("Stop gently", options={"max_subtasks": 3})
    runner.wait_started(job_id, 3)
    worker = stack.process("worker1")
    stopped_at = time.monotonic()
    worker.process.send_signal(signal.SIGTERM)

    # It stops as soon as its calls are done, well inside the grace period.
    worker.process.wait(timeout=20)
    assert time.monotonic() - stopped_at < 15
    assert runner.store.results_count(job_id) == 3
    # The job finishes without any worker left: the in-flight calls completed and recorded.
    record = runner.wait(job_id, timeout_s=30)
    assert record.status is JobStatus.SUCCEEDED
    assert [r.attempts for r in record.results] == [1, 1, 1]
    calls = SimulatorControl(str(stack.simulator_url)).stats()
    assert calls["requests_total"] == 4  # one plan + three subtasks: nothing was called twice


@pytest.mark.fault
def test_sigterm_past_the_grace_period_hands_subtasks_back(stack_factory: StackFactory) -> None:
    stack = stack_factory(
        workers=1, worker_concurrency=8, simulator_latency_ms=6000, simulator_plan_size=3,
        extra_env={"CHORUS_SHUTDOWN_GRACE_S": "1"},
    )  # fmt: skip
    runner = runner_for(stack)
    job_id = runner.submit("Stop now", options={"max_subtasks": 3})
    runner.wait_started(job_id, 3)
    worker = stack.process("worker1")
    worker.process.send_signal(signal.SIGTERM)
    worker.process.wait(timeout=20)  # gone after the 1 s grace, long before the 6 s calls end
    assert runner.store.results_count(job_id) == 0

    # The unfinished subtasks went back on the queue; a fresh worker completes the job.
    stack.add_worker("worker2")
    record = runner.wait(job_id, timeout_s=60)
    assert record.status is JobStatus.SUCCEEDED
    assert all(r.status is SubtaskStatus.SUCCEEDED for r in record.results)
    assert {r.worker.split("@")[0] for r in record.results if r.worker} == {"worker2"}
    assert len(runner.events(job_id, EventKind.SUBTASK_FINISHED)) == 3  # each output recorded once
