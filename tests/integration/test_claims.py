"""Proofs for docs/reliability.md's claims about early chord callbacks and budgets, with real
processes: an early gather step looks again instead of cutting a job short, and marks failed
only what never arrives within the straggler wait; a cost budget or a deadline crossed mid-job
skips the subtasks not yet called while every call already in flight is kept and counted.
Each was checked by breaking the production code (see the report of issue #14)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from celery.result import AsyncResult

from chorus.contract import names
from chorus.contract.events import EventKind
from chorus.contract.models import (
    JobRecord,
    JobStatus,
    Plan,
    Subtask,
    SubtaskResult,
    SubtaskStatus,
    Usage,
)
from chorus.core import records, retry
from chorus.core.submission import build_request, initial_record
from chorus.devstack.stack import LocalStack, wait_until
from chorus.runtime.app import ChorusCelery
from chorus.runtime.signatures import gather_signature
from chorus.settings import Settings
from tests.support.runner import JobRunner, release, runner_for
from tests.support.simulator_control import SimulatorControl

# A straggler wait of 7.5 s (2.5 s timeout, one attempt, 3 s heartbeat TTL, two 1 s beats)
# instead of minutes, and a reconciler that never steps in while a test waits for it.
SHORT_STRAGGLER_WAIT = {
    "CHORUS_MODEL_TIMEOUT_S": "2.5",
    "CHORUS_STREAM_TIMEOUT_S": "2.5",
    "CHORUS_MAX_ATTEMPTS": "1",
    "CHORUS_HEARTBEAT_INTERVAL_S": "1",
    "CHORUS_HEARTBEAT_TTL_S": "3",
    "CHORUS_RECONCILE_GRACE_S": "600",
}
# Planning is free and a worker call is not, so a budget of a millionth of a cent lets the
# plan through and is crossed by the first worker result.
PRICES = (
    '{"claude-sonnet-5-5": {"input": 0, "output": 0, "cache_write": 0, "cache_read": 0},'
    ' "claude-haiku-5-5": {"input": 1, "output": 5, "cache_write": 1.25, "cache_read": 0.1}}'
)
CALL_MS = 2000  # every simulator call in the budget stack


@pytest.fixture(scope="module")
def straggler_stack(workdir: Path, stack_env: dict[str, str]) -> Iterator[LocalStack]:
    path = workdir / f"claims-stragglers-{uuid.uuid4().hex[:6]}"
    path.mkdir()
    stack = LocalStack(workdir=path, extra_env={**stack_env, **SHORT_STRAGGLER_WAIT})
    yield stack.start()
    stack.stop()


@pytest.fixture(scope="module")
def budget_stack(workdir: Path, stack_env: dict[str, str]) -> Iterator[LocalStack]:
    """Two worker slots and 2 s calls: four subtasks run two at a time, so a limit crossed
    by the first two is crossed while both are in flight and before the last two start."""
    path = workdir / f"claims-budgets-{uuid.uuid4().hex[:6]}"
    path.mkdir()
    stack = LocalStack(
        workdir=path,
        simulator_latency_ms=CALL_MS,
        simulator_plan_size=4,
        worker_concurrency=2,
        extra_env={**stack_env, "CHORUS_PRICES": PRICES},
    )
    stack.start()
    # A first job warms both processes (imports, model clients): a cold start would eat the
    # seconds the deadline test's timing rests on, in whichever test ran first.
    warm = runner_for(stack).run("Warm-up.", options={"max_subtasks": 1}, timeout_s=60)
    assert warm.status is JobStatus.SUCCEEDED, warm.error
    yield stack
    stack.stop()


def _state_becomes(result: AsyncResult, *states: str) -> Callable[[], bool]:
    return lambda: result.state in states


def test_an_early_gather_looks_again_and_the_job_ends_with_every_result(
    jobs: JobRunner,
    client_app: ChorusCelery,
    sim: SimulatorControl,
    chorus_stack: LocalStack,
    request: pytest.FixtureRequest,
) -> None:
    # Worker replies trickle in over seconds, so the hand-sent gather finds none stored.
    sim.set_faults([{"match": "<subtask>", "trickle_s": 0.004}])
    job_id = jobs.submit(f"Early gather {uuid.uuid4().hex}.", options={"max_subtasks": 3})
    record = _wait_until_running(jobs, job_id)
    planned = record.subtasks_total
    jobs.wait_started(job_id, planned)

    early = gather_signature(client_app, job_id).apply_async()
    request.addfinalizer(lambda: release(early))
    wait_until(_state_becomes(early, "RETRY", "SUCCESS"), timeout_s=20, what="the early gather")
    assert jobs.store.get(job_id).status is JobStatus.RUNNING  # not finalised early
    assert early.state == "RETRY" and jobs.store.results_count(job_id) < planned

    final = jobs.wait(job_id, timeout_s=60)
    assert final.status is JobStatus.SUCCEEDED, [r.error for r in final.results]
    assert [r.status for r in final.results] == [SubtaskStatus.SUCCEEDED] * planned
    assert all(r.output for r in final.results)
    assert len(jobs.events(job_id, EventKind.JOB_FINISHED)) == 1
    assert sim.stats()["requests_total"] == 1 + planned  # nothing called again
    wait_until(_state_becomes(early, "SUCCESS"), timeout_s=30, what="the early gather to end")
    log = chorus_stack.process("orchestrator").log_text()
    assert f"gather for {job_id} fired early" in log


def _wait_until_running(jobs: JobRunner, job_id: str) -> JobRecord:
    wait_until(
        lambda: jobs.store.get(job_id).status is not JobStatus.PLANNING,
        timeout_s=30,
        what="the job's plan",
    )
    record = jobs.store.get(job_id)
    assert record.status is JobStatus.RUNNING, record.error
    return record


def _result(index: int) -> SubtaskResult:
    now = records.utc_now()
    return SubtaskResult(
        index=index, type=f"part{index}", description=f"part {index}",
        status=SubtaskStatus.SUCCEEDED, output=f"output {index}",
        usage=Usage(input_tokens=3, output_tokens=4), started_at=now, finished_at=now,
    )  # fmt: skip


def test_a_gather_waits_out_stragglers_then_marks_what_never_came_failed(
    straggler_stack: LocalStack, request: pytest.FixtureRequest
) -> None:
    # A running job whose subtask 2 message was lost: 0 is stored, 1 arrives late, 2 never.
    runner = runner_for(straggler_stack)
    wait_s = retry.straggler_wait_s(
        Settings(
            model_timeout_s=2.5,
            stream_timeout_s=2.5,
            max_attempts=1,
            heartbeat_interval_s=1,
            heartbeat_ttl_s=3,
        )
    )
    job_request = build_request({"task": f"Stragglers {uuid.uuid4().hex}."})
    job_id = runner.store.create(initial_record(job_request, runner.settings)).job_id
    plan = Plan(
        analysis="three parts",
        subtasks=[Subtask(index=i, type=f"part{i}", description=f"part {i}") for i in range(3)],
    )
    runner.store.update(job_id, lambda r: records.with_plan(r, plan, Usage(), r.updated_at))
    runner.store.save_result(job_id, _result(0))

    sent_at = time.monotonic()
    gather = gather_signature(runner.app, job_id).apply_async()
    request.addfinalizer(lambda: release(gather))
    wait_until(_state_becomes(gather, "RETRY", "SUCCESS"), timeout_s=20, what="the gather")
    runner.store.save_result(job_id, _result(1))

    final = runner.wait(job_id, timeout_s=wait_s + 30)
    waited = time.monotonic() - sent_at
    assert final.status is JobStatus.PARTIAL
    assert [r.status for r in final.results] == [
        SubtaskStatus.SUCCEEDED,
        SubtaskStatus.SUCCEEDED,  # the straggler that came while the gather looked again
        SubtaskStatus.FAILED,
    ]
    assert final.results[2].error == records.MISSING_RESULT_ERROR
    assert final.results[2].attempts == 0
    assert wait_s <= waited < wait_s + 20, (wait_s, waited)
    assert len(runner.events(job_id, EventKind.JOB_FINISHED)) == 1


def _spent_usd(runner: JobRunner, job_id: str) -> float:
    return float(runner.store._redis.hget(names.job_control_key(job_id), "cost_usd") or 0)


def test_a_cost_budget_crossed_mid_job_skips_the_rest_and_keeps_what_was_paid_for(
    budget_stack: LocalStack,
) -> None:
    runner = runner_for(budget_stack)
    sim = SimulatorControl(str(budget_stack.simulator_url))
    sim.reset()
    # One of the first two calls trickles its reply, so it is still in flight well after the
    # other's result has crossed the budget.
    sim.set_faults([{"match": "<subtask>", "trickle_s": 0.002, "times": 1}])
    limit = 1e-8
    record = runner.run(
        f"Budget {uuid.uuid4().hex}.", options={"max_subtasks": 4, "max_cost_usd": limit}
    )

    assert record.planning_usage.cost_usd == 0 and record.planning_usage.total_tokens > 0
    by_status = {s: [r for r in record.results if r.status is s] for s in SubtaskStatus}
    called, skipped = by_status[SubtaskStatus.SUCCEEDED], by_status[SubtaskStatus.SKIPPED]
    assert (len(called), len(skipped), len(record.results)) == (2, 2, 4)
    assert record.status is JobStatus.PARTIAL
    reason = "budget_exceeded: the job's limit was reached before this subtask could run"
    assert record.error == reason
    assert all(r.error == reason and r.usage == Usage() and r.attempts == 0 for r in skipped)
    # Both calls in flight when the budget was crossed are on record and counted.
    assert all(r.output and r.usage.cost_usd > 0 for r in called)
    first, last = sorted(r.finished_at.timestamp() for r in called)
    assert last - first > 0.5, "the budget was not crossed while a call was in flight"
    paid = sum(r.usage.cost_usd for r in called)
    assert record.usage.cost_usd == pytest.approx(paid) and paid > 2 * limit
    assert _spent_usd(runner, record.job_id) == pytest.approx(paid)
    assert sim.stats()["requests_total"] == 1 + 2


def test_a_deadline_passing_mid_job_skips_the_rest_and_keeps_the_calls_in_flight(
    budget_stack: LocalStack,
) -> None:
    runner = runner_for(budget_stack)
    sim = SimulatorControl(str(budget_stack.simulator_url))
    sim.reset()
    # Planning ends at about 2 s; worker replies trickle, so the first two calls end seconds
    # after 4 s: the deadline falls between with room on both sides on a loaded machine.
    sim.set_faults([{"match": "<subtask>", "trickle_s": 0.002}])
    deadline_s = 2 * CALL_MS / 1000
    job_id = runner.submit(
        f"Deadline {uuid.uuid4().hex}.", options={"max_subtasks": 4, "deadline_s": deadline_s}
    )
    runner.wait_started(job_id, 2)
    record = runner.wait(job_id, timeout_s=60)

    by_status = {s: [r for r in record.results if r.status is s] for s in SubtaskStatus}
    called, skipped = by_status[SubtaskStatus.SUCCEEDED], by_status[SubtaskStatus.SKIPPED]
    assert (len(called), len(skipped), len(record.results)) == (2, 2, 4)
    assert record.status is JobStatus.PARTIAL
    reason = "deadline_exceeded: the job's limit was reached before this subtask could run"
    assert record.error == reason
    assert all(r.error == reason and r.usage == Usage() for r in skipped)
    deadline = record.created_at.timestamp() + deadline_s
    # The kept calls started before the deadline and finished after it.
    for result in called:
        assert result.output and result.usage.total_tokens > 0
        assert result.started_at is not None
        assert result.started_at.timestamp() < deadline < result.finished_at.timestamp()
    spent = record.planning_usage.total_tokens + sum(r.usage.total_tokens for r in called)
    assert record.usage.total_tokens == spent
    assert sim.stats()["requests_total"] == 1 + 2
