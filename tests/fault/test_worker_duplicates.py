"""A message handed back more than once, in real processes: two reapers see a dead worker's
messages and hand them back once; a slow worker's duplicate costs a model call but never a
second result (docs/reliability.md, "Delivery" and "Recovery from a dead worker").

Each test runs on a private stack (own redis-server and simulator) with heartbeats every
second and dead after 4, so recoveries take seconds.
"""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest

from chorus.contract import names
from chorus.contract.events import EventKind
from chorus.contract.models import JobStatus
from chorus.devstack.stack import LocalStack, ManagedProcess, wait_until
from chorus.runtime.redelivery import hand_back, hand_back_script, hand_back_tags
from tests.support.deliveries import (
    FAST_HEARTBEAT,
    SUBTASK_MARKER,
    call_times,
    held,
    ledger_of,
    ledger_tags,
    log_messages,
    node_of,
    redis_at,
    subtask_marker,
)
from tests.support.runner import JobRunner, runner_for
from tests.support.simulator_control import SimulatorControl

pytestmark = pytest.mark.fault

StackFactory = Callable[..., LocalStack]


def _ready(*procs: ManagedProcess) -> Callable[[], bool]:
    return lambda: all(" ready." in p.log_text() for p in procs)


def _receipts(proc: ManagedProcess) -> int:
    """How many subtask deliveries this process ran to the end (Celery's receipt line)."""
    return sum(
        f"{names.RUN_SUBTASK_TASK}[" in m and "succeeded in" in m for m in log_messages(proc)
    )


def test_two_reapers_hand_a_dead_workers_messages_back_exactly_once(
    stack_factory: StackFactory,
) -> None:
    stack = stack_factory(
        workers=1, worker_concurrency=4, simulator_latency_ms=8000, simulator_plan_size=3,
        extra_env=FAST_HEARTBEAT,
    )  # fmt: skip
    runner, sim = runner_for(stack), SimulatorControl(str(stack.simulator_url))
    client = redis_at(stack.redis_url)
    job_id = runner.submit("Reaped once", options={"max_subtasks": 3})
    wait_until(
        lambda: sim.stats()["requests_total"] == 4 and sim.stats()["in_flight"] == 3,
        timeout_s=30,
        what="worker1's three calls in flight",
    )
    # Two more live processes, besides the orchestrator: three reapers will see the death.
    peers = [stack.add_worker(name, wait=False) for name in ("worker2", "worker3")]
    wait_until(_ready(*peers), timeout_s=60, what="worker2 and worker3 ready")
    dead = ledger_of(client, "worker1")
    assert len(ledger_tags(client, dead)) == 3
    assert sim.stats()["in_flight"] == 3, "the calls ended before the kill"
    stack.process("worker1").kill()
    wait_until(
        lambda: len(call_times(sim, SUBTASK_MARKER)) >= 6,
        timeout_s=20,
        what="worker1's three subtasks handed back and called again",
    )

    record = runner.wait(job_id, timeout_s=45)
    assert record.status is JobStatus.SUCCEEDED and len(record.results) == 3
    assert {node_of(r.worker) for r in record.results} <= {"worker2", "worker3"}
    # Each subtask delivered twice in all (the killed call, then once more): a second
    # hand-back would have started it a third time.
    per_subtask = {r.type: len(call_times(sim, subtask_marker(r.type))) for r in record.results}
    assert per_subtask == {r.type: 2 for r in record.results}, per_subtask
    assert sim.stats()["requests_total"] == 1 + 3 + 3
    assert len(runner.events(job_id, EventKind.SUBTASK_STARTED)) == 6
    assert len(runner.events(job_id, EventKind.SUBTASK_FINISHED)) == 3
    logs = log_messages(stack.process("orchestrator"), *peers)
    reaps = [m for m in logs if m.startswith("handed back") and dead in m]
    assert reaps == [f"handed back 3 message(s) held by dead {dead}"], reaps
    assert client.llen(names.SUBTASKS_QUEUE) == 0
    assert not [h for h in held(client) if h.job_id == job_id]
    # A reaper coming late finds nothing left to hand back.
    assert hand_back(client, hand_back_script(client), dead) == 0


def test_a_reaper_that_read_the_ledger_before_another_handed_it_back_moves_nothing(
    stack_factory: StackFactory,
) -> None:
    stack = stack_factory(
        workers=1, worker_concurrency=4, simulator_latency_ms=8000, simulator_plan_size=1,
        extra_env=FAST_HEARTBEAT,
    )  # fmt: skip
    runner, sim = runner_for(stack), SimulatorControl(str(stack.simulator_url))
    client = redis_at(stack.redis_url)
    job_id = runner.submit("Reaped late", options={"max_subtasks": 1})
    wait_until(
        lambda: len(call_times(sim, SUBTASK_MARKER)) == 1 and sim.stats()["in_flight"] == 1,
        timeout_s=30,
        what="worker1's call in flight",
    )
    stack.add_worker("worker2")
    dead = ledger_of(client, "worker1")
    seen = ledger_tags(client, dead)  # reaper A reads the ledger, then is descheduled
    assert len(seen) == 1
    stack.process("worker1").kill()
    # Meanwhile reaper B hands it all back, and worker2 takes the message and calls the model.
    wait_until(
        lambda: (
            dead not in client.smembers(names.LEDGERS_KEY)
            and len(call_times(sim, "<subtask>")) == 2
        ),
        timeout_s=20,
        what="worker1's message handed back and called again by worker2",
    )
    # Reaper A resumes with what it read: every tag it holds was handed back already.
    assert hand_back_tags(client, hand_back_script(client), sorted(seen)) == 0
    record = runner.wait(job_id, timeout_s=30)
    assert record.status is JobStatus.SUCCEEDED
    assert len(call_times(sim, SUBTASK_MARKER)) == 2


def _freeze_worker1_until_its_subtasks_are_called_again(
    stack_factory: StackFactory, task: str
) -> tuple[LocalStack, JobRunner, SimulatorControl, str]:
    """Two subtasks in flight on worker1, which is then frozen (SIGSTOP, heartbeat and all: to
    its peers it looks dead) until worker2 has been handed both and called the model again;
    then it runs on. Its replies came while it was frozen, so it stores them first."""
    stack = stack_factory(
        workers=1, worker_concurrency=4, simulator_latency_ms=4000, simulator_plan_size=2,
        extra_env=FAST_HEARTBEAT,
    )  # fmt: skip
    runner, sim = runner_for(stack), SimulatorControl(str(stack.simulator_url))
    job_id = runner.submit(task, options={"max_subtasks": 2})
    wait_until(
        lambda: sim.stats()["requests_total"] == 3 and sim.stats()["in_flight"] == 2,
        timeout_s=30,
        what="worker1's two calls in flight",
    )
    worker1 = stack.process("worker1")
    worker1.process.send_signal(signal.SIGSTOP)
    try:
        stack.add_worker("worker2")
        wait_until(
            lambda: len(call_times(sim, SUBTASK_MARKER)) == 4,
            timeout_s=20,
            what="the handed-back subtasks called again by worker2",
        )
    finally:
        worker1.process.send_signal(signal.SIGCONT)
    return stack, runner, sim, job_id


def test_a_slow_workers_duplicate_costs_a_model_call_not_a_second_result(
    stack_factory: StackFactory,
) -> None:
    stack, runner, sim, job_id = _freeze_worker1_until_its_subtasks_are_called_again(
        stack_factory, "Slow, not dead"
    )
    worker1, worker2 = stack.process("worker1"), stack.process("worker2")
    # Both copies of each subtask run to the end: worker1's is stored, worker2's finds it.
    wait_until(
        lambda: _receipts(worker1) == 2 and _receipts(worker2) == 2,
        timeout_s=30,
        what="all four deliveries finished",
    )
    record = runner.wait(job_id, timeout_s=30)
    assert record.status is JobStatus.SUCCEEDED and len(record.results) == 2
    assert {node_of(r.worker) for r in record.results} == {"worker1"}
    per_subtask = {r.type: len(call_times(sim, subtask_marker(r.type))) for r in record.results}
    assert per_subtask == {r.type: 2 for r in record.results}, per_subtask  # a repeated call
    assert len(runner.events(job_id, EventKind.SUBTASK_STARTED)) == 4
    assert len(runner.events(job_id, EventKind.SUBTASK_FINISHED)) == 2  # never a second result
    assert runner.store.results_count(job_id) == 2


def test_a_message_being_run_stays_in_unacked_when_a_slow_worker_acks_its_old_copy(
    stack_factory: StackFactory,
) -> None:
    stack, _, _, job_id = _freeze_worker1_until_its_subtasks_are_called_again(
        stack_factory, "Acked late"
    )
    client = redis_at(stack.redis_url)
    worker1, worker2 = stack.process("worker1"), stack.process("worker2")
    wait_until(lambda: _receipts(worker1) == 2, timeout_s=20, what="worker1's late acks")
    assert _receipts(worker2) == 0, "worker2's calls ended too soon to look"
    # worker2 is still calling the model for both: a crash now must still hand them back.
    assert len([h for h in held(client) if h.job_id == job_id]) == 2
