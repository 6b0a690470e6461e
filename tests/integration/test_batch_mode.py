"""Batch mode (`options.mode = "batch"`) with real processes against the simulator's Message
Batches API: jobs end to end at half price, many jobs' calls in one batch, fallback to direct
calls on an errored request and on expiry, cancel during a batch, and the reconciler leaving a
job that waits on a slow batch alone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import pytest

from chorus.contract.events import EventKind
from chorus.contract.models import JobRecord, JobStatus, SubtaskStatus
from chorus.core.pricing import cost_usd
from chorus.devstack.stack import LocalStack, wait_until
from tests.support.runner import JobRunner, runner_for
from tests.support.simulator_control import SimulatorControl

pytestmark = pytest.mark.integration

QUICK = {
    "CHORUS_BATCH_WINDOW_S": "0.3",
    "CHORUS_BATCH_POLL_S": "0.3",
    "CHORUS_RECONCILE_GRACE_S": "1",
    "CHORUS_RECONCILE_INTERVAL_S": "0.5",
}
BATCH = {"mode": "batch", "max_subtasks": 3}


def start(
    stack_factory: Callable[..., LocalStack], **env: str
) -> tuple[JobRunner, SimulatorControl]:
    stack = stack_factory(workers=1, extra_env={**QUICK, **env})
    sim = SimulatorControl(str(stack.simulator_url))
    sim.set_batches(delay_s=0.5)
    return runner_for(stack), sim


def batched_requests(sim: SimulatorControl, marker: str) -> list[dict[str, Any]]:
    return [r for r in sim.requests() if r.get("batch") and marker in str(r.get("text", ""))]


def direct_requests(sim: SimulatorControl, marker: str) -> list[dict[str, Any]]:
    return [r for r in sim.requests() if not r.get("batch") and marker in str(r.get("text", ""))]


def assert_half_price(runner: JobRunner, record: JobRecord) -> None:
    for result in record.results:
        price = runner.settings.prices.get(result.model or "")
        assert result.usage.cost_usd == pytest.approx(cost_usd(result.usage, price) / 2)


def test_a_batch_job_runs_end_to_end_at_half_price_sharing_batches(
    stack_factory: Callable[..., LocalStack],
) -> None:
    runner, sim = start(stack_factory, CHORUS_BATCH_WINDOW_S="1")
    ids = [runner.submit(f"batch job {n} of three", options=BATCH) for n in range(3)]
    done = [runner.wait(job_id, timeout_s=60) for job_id in ids]
    for record in done:
        assert record.status is JobStatus.SUCCEEDED, record.error
        assert record.results and all(r.batched for r in record.results)
        assert_half_price(runner, record)
        assert record.planning_usage.cost_usd > 0
    # Every call went through a batch, and the three jobs' calls shared them: the planning
    # calls one batch, the worker calls another.
    assert direct_requests(sim, "of three") == []
    seen = batched_requests(sim, "of three")
    workers = sum(len(r.results) for r in done)
    assert len(seen) == 3 + workers
    assert len({r["batch"] for r in seen}) <= 2
    # The same job in normal mode costs about twice as much.
    normal = runner.run("batch job 0 of three", options={"max_subtasks": 3}, timeout_s=60)
    assert normal.status is JobStatus.SUCCEEDED and not any(r.batched for r in normal.results)
    assert done[0].usage.cost_usd == pytest.approx(normal.usage.cost_usd / 2, rel=0.25)


def test_an_errored_request_and_an_expired_batch_fall_back_to_direct_calls(
    stack_factory: Callable[..., LocalStack],
) -> None:
    runner, sim = start(stack_factory)
    # Once planned, one worker request errors inside its batch (the fault fires once): that
    # subtask is called directly; the others keep their batch answers.
    job_id = runner.submit("errored fallback job", options=BATCH)
    wait_until(
        lambda: len(runner.events(job_id, EventKind.PLANNED)) == 1,
        timeout_s=30,
        what="the plan",
    )
    sim.set_faults([{"match": "errored fallback job", "status": 500, "times": 1}])
    record = runner.wait(job_id, timeout_s=60)
    assert record.status is JobStatus.SUCCEEDED, record.error
    assert sorted(r.batched for r in record.results) == [False] + [True] * (len(record.results) - 1)
    assert len(direct_requests(sim, "errored fallback job")) == 1
    # A batch that expires before its requests run: every call is made directly.
    sim.set_faults([])
    sim.set_batches(delay_s=30, expire_after_s=0.5)
    expired = runner.run("expired fallback job", options=BATCH, timeout_s=60)
    assert expired.status is JobStatus.SUCCEEDED, expired.error
    assert expired.results and not any(r.batched for r in expired.results)
    assert len(direct_requests(sim, "expired fallback job")) == 1 + len(expired.results)


def test_cancel_during_a_batch_cancels_it_and_loses_nothing(
    stack_factory: Callable[..., LocalStack],
) -> None:
    runner, sim = start(stack_factory, CHORUS_BATCH_WINDOW_S="2")
    job_id = runner.submit("cancelled batch job", options=BATCH)
    # The planning batch answers quickly; the workers' batch will take 30 s.
    runner.wait_started(job_id, 1, timeout_s=30)
    sim.set_batches(delay_s=30)
    batches = anthropic.Anthropic(api_key="chorus-simulator", base_url=sim.url).messages.batches

    def workers_batch() -> list[Any]:
        return [b for b in batches.list() if b.processing_status != "ended"]

    wait_until(lambda: bool(workers_batch()), timeout_s=30, what="the workers' batch")
    runner.cancel(job_id)

    def settled() -> bool:
        record = runner.store.find(job_id)
        return record is not None and bool(record.results)

    wait_until(settled, timeout_s=30, what="the cancelled job's results")
    record = runner.store.find(job_id)
    assert record is not None and record.status is JobStatus.CANCELLED
    assert record.results and all(r.status is SubtaskStatus.SKIPPED for r in record.results)
    assert all(r.usage.cost_usd == 0 for r in record.results)
    cancelled = [b for b in batches.list() if b.request_counts.canceled]
    assert cancelled and all(b.processing_status == "ended" for b in cancelled)


def test_a_job_waiting_on_a_slow_batch_is_not_redispatched(
    stack_factory: Callable[..., LocalStack],
) -> None:
    runner, sim = start(stack_factory)
    sim.set_batches(delay_s=4)  # past the reconciler's 1 s grace, several sweeps over
    record = runner.run("slow batch job", options=BATCH, timeout_s=90)
    assert record.status is JobStatus.SUCCEEDED, record.error
    assert all(r.batched and r.attempts == 1 for r in record.results)
    assert direct_requests(sim, "slow batch job") == []
    assert len(batched_requests(sim, "slow batch job")) == 1 + len(record.results)
