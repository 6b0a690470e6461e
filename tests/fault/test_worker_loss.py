"""Stopping or losing a worker while it holds messages it has not started, in real processes:
a retry waiting on its countdown survives a restart, and SIGTERM lets the running call finish
and hands back what the worker reserved (docs/reliability.md, "Recovery from a dead worker",
"Stopping a worker"). Duplicates are in `test_worker_duplicates.py`.

Each test runs on a private stack (own redis-server and simulator).
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from chorus.contract import limits, names
from chorus.contract.events import EventKind
from chorus.contract.models import JobStatus, SubtaskStatus
from chorus.devstack.stack import LocalStack, wait_until
from tests.support.deliveries import (
    FAST_HEARTBEAT,
    SUBTASK_MARKER,
    Held,
    call_times,
    held,
    ledger_of,
    ledger_tags,
    log_messages,
    node_of,
    redis_at,
    subtask_marker,
)
from tests.support.runner import runner_for
from tests.support.simulator_control import SimulatorControl

pytestmark = pytest.mark.fault

StackFactory = Callable[..., LocalStack]


@pytest.mark.parametrize("stop", ["SIGKILL", "SIGTERM"])
def test_a_retry_waiting_on_its_countdown_survives_its_worker_being_stopped(
    stack_factory: StackFactory, stop: str
) -> None:
    # Full jitter draws each countdown anywhere in [0, 12 s]: the worker calls fail (529) until
    # one retry waits long enough to stop its worker inside the countdown.
    stack = stack_factory(
        workers=1, worker_concurrency=4, simulator_latency_ms=200, simulator_plan_size=1,
        extra_env={**FAST_HEARTBEAT, "CHORUS_RETRY_BASE_S": "12", "CHORUS_RETRY_MAX_S": "12",
                   "CHORUS_MAX_ATTEMPTS": "20"},
    )  # fmt: skip
    runner, sim = runner_for(stack), SimulatorControl(str(stack.simulator_url))
    client = redis_at(stack.redis_url)
    sim.set_faults([{"match": SUBTASK_MARKER, "status": 529}])
    job_id = runner.submit("Wait out a countdown", options={"max_subtasks": 1})
    worker1 = stack.process("worker1")
    instance = ledger_of(client, "worker1")

    waiting: list[Held] = []

    def countdown_held() -> bool:
        # The retry is the job's only message: the attempt that sent it is acknowledged (the
        # retry arrives a moment before that ack, and a kill in between would hand back both).
        waiting[:] = [h for h in held(client) if h.job_id == job_id]
        return len(waiting) == 1 and waiting[0].waits_at_least(4)

    wait_until(countdown_held, timeout_s=60, what="a retry held for 4 s or more")
    assert worker1.alive()  # held by worker1, the only consumer of the subtasks queue
    sim.set_faults([])  # the attempt after the restart succeeds
    eta = waiting[0].eta
    assert eta is not None
    stopped_at = time.time()
    if stop == "SIGKILL":
        worker1.kill()
    else:
        worker1.process.send_signal(signal.SIGTERM)
        assert worker1.process.wait(timeout=20) == 0  # a warm shutdown, not the grace timer
        assert client.llen(names.SUBTASKS_QUEUE) == 1, "the countdown was not handed back"
        assert "handed back 1 reserved message(s) at shutdown" in log_messages(worker1)
    assert (eta - datetime.now(UTC)).total_seconds() > 0, "stopped after the countdown ended"
    restarted_at = time.time()
    worker2 = stack.add_worker("worker2")

    record = runner.wait(job_id, timeout_s=45)
    (result,) = record.results
    assert record.status is JobStatus.SUCCEEDED and result.status is SubtaskStatus.SUCCEEDED
    assert node_of(result.worker) == "worker2"
    # Every failed try before the stop, the one that succeeded after the restart, and
    # nothing else: the simulator saw exactly the attempts on record.
    times = call_times(sim, SUBTASK_MARKER)
    assert len(times) == result.attempts >= 2, (times, result.attempts)
    assert all(t < stopped_at for t in times[:-1]), (times, stopped_at)
    assert times[-1] > restarted_at and times[-1] >= eta.timestamp() - 0.1, (times, eta)
    assert sim.stats()["responses_by_status"].get("529") == result.attempts - 1
    assert len(runner.events(job_id, EventKind.SUBTASK_FINISHED)) == 1
    if stop == "SIGKILL":
        # Handed back by a peer once the heartbeat lapsed: seconds, not the visibility timeout.
        reaped = f"handed back 1 message(s) held by dead {instance}"
        logs = log_messages(stack.process("orchestrator"), worker2)
        assert logs.count(reaped) == 1, [m for m in logs if "handed back" in m]


def test_sigterm_finishes_the_running_call_and_hands_back_the_reserved_ones(
    stack_factory: StackFactory,
) -> None:
    # One worker call per 6 s window: of three subtasks on two slots, one call runs and two are
    # throttled, each requeued with a countdown and held by worker1, reserved but not started.
    # (With worker_prefetch_multiplier=1 and late acks, a countdown is the only message a
    # worker reserves beyond the calls it runs.)
    rate = {limits.DEFAULT_WORKER_MODEL: {"requests": 1}}
    stack = stack_factory(
        workers=1, worker_concurrency=2, simulator_latency_ms=3000, simulator_plan_size=3,
        extra_env={"CHORUS_RATE_LIMITS": json.dumps(rate), "CHORUS_RATE_LIMIT_WINDOW_S": "6"},
    )  # fmt: skip
    runner, sim = runner_for(stack), SimulatorControl(str(stack.simulator_url))
    client = redis_at(stack.redis_url)
    job_id = runner.submit("Stop with work reserved", options={"max_subtasks": 3})
    instance = ledger_of(client, "worker1")

    def one_running_two_reserved() -> bool:
        mine = ledger_tags(client, instance)
        reserved = [h for h in held(client) if h.job_id == job_id and h.eta and h.tag in mine]
        return sim.stats()["in_flight"] == 1 and len(reserved) == 2

    wait_until(one_running_two_reserved, timeout_s=30, what="one call running, two reserved")
    worker1 = stack.process("worker1")
    worker1.process.send_signal(signal.SIGTERM)
    assert worker1.process.wait(timeout=20) == 0  # warm: it waited for its call, then left

    # Back on the queue at shutdown, not later by the reconciler's sweep for orphans.
    assert client.llen(names.SUBTASKS_QUEUE) == 2
    assert "handed back 2 reserved message(s) at shutdown" in log_messages(worker1)
    assert runner.store.results_count(job_id) == 1  # the running call finished and was stored
    stack.add_worker("worker2")

    record = runner.wait(job_id, timeout_s=45)
    assert record.status is JobStatus.SUCCEEDED and len(record.results) == 3
    assert sorted(node_of(r.worker) for r in record.results) == ["worker1", "worker2", "worker2"]
    assert [r.attempts for r in record.results] == [1, 1, 1]
    # None lost, none run twice: one call per subtask, each started and finished once.
    per_subtask = {r.type: len(call_times(sim, subtask_marker(r.type))) for r in record.results}
    assert per_subtask == {r.type: 1 for r in record.results}, per_subtask
    assert len(runner.events(job_id, EventKind.SUBTASK_STARTED)) == 3
    assert len(runner.events(job_id, EventKind.SUBTASK_FINISHED)) == 3
    assert client.llen(names.SUBTASKS_QUEUE) == 0
