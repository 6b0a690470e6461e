"""A batch-mode job's planning call on stand-ins: it joins the collector, run_job waits with
countdown retries that cost no attempt and hold the planning claim, the plan comes at the
batch price, a repair round is direct, and an unanswered request falls back."""

from __future__ import annotations

from typing import Any

import pytest

from chorus.contract.batches import BatchOutcome, custom_id
from chorus.contract.models import JobStatus
from chorus.errors import RetryLater
from chorus.orchestrator_service.planning import WAITS_KWARG, run_job
from tests.support.standins import PLAN_USAGE, Dispatch, Rig, make_rig, plan_reply

JOB = "job-1"
CID = custom_id(JOB, "plan", 0, 1, 1)


@pytest.fixture
def rig() -> Rig:
    return make_rig(batch_poll_s=3, batch_max_wait_s=100)


def body(**extra: Any) -> dict[str, Any]:
    return {"task": "write a haiku", "job_id": JOB, "options": {"mode": "batch"}, **extra}


def run(rig: Rig, payload: dict[str, Any], retries: int = 0) -> dict[str, Any]:
    return run_job(rig.deps, payload, task_id="t", retries=retries, dispatch=Dispatch())


def wait(rig: Rig, payload: dict[str, Any], retries: int = 0) -> dict[str, Any]:
    with pytest.raises(RetryLater) as waiting:
        run(rig, payload, retries)
    assert waiting.value.countdown == 3 and waiting.value.kwargs is not None
    return waiting.value.kwargs


def answer(rig: Rig, result: str) -> None:
    message = {"id": "msg"} if result == "succeeded" else None
    outcome = BatchOutcome(custom_id=CID, result=result, message=message, error=result)
    rig.batches.collector.save_outcomes([outcome])


def test_planning_waits_for_its_batch_costing_no_attempt(rig: Rig) -> None:
    again = wait(rig, body())
    assert again[WAITS_KWARG] == 1  # counted as a wait, not a failed attempt
    again = wait(rig, again, retries=1)
    assert again[WAITS_KWARG] == 2
    assert list(rig.batches.collector.items) == [CID] and rig.model.plan_calls == []
    assert rig.batches.flushes == ["later"]
    # The claim outlasts the wait for the batch.
    claim = rig.store.planner(JOB)
    rig.clock.advance(99)
    assert rig.store.planner(JOB) == claim


def test_the_batch_plan_is_stored_at_the_batch_price(rig: Rig) -> None:
    again = wait(rig, body())
    answer(rig, "succeeded")
    assert run(rig, again, retries=1)["status"] == "running"
    record = rig.store.record(JOB)
    assert record.planning_usage.cost_usd == pytest.approx(PLAN_USAGE.cost_usd / 2)
    assert rig.model.plan_calls == []


def test_a_rejected_batch_plan_is_repaired_directly(rig: Rig) -> None:
    rig.model.plans.extend([plan_reply(), plan_reply("a")])  # an empty plan, then a good one
    again = wait(rig, body())
    answer(rig, "succeeded")
    assert run(rig, again, retries=1)["status"] == "running"
    assert len(rig.model.plan_calls) == 1 and rig.model.plan_calls[0].feedback


@pytest.mark.parametrize("kind", ["errored", "expired", "canceled"])
def test_an_unanswered_planning_request_falls_back(rig: Rig, kind: str) -> None:
    again = wait(rig, body())
    answer(rig, kind)
    assert run(rig, again, retries=1)["status"] == "running"
    assert len(rig.model.plan_calls) == 1
    assert rig.store.record(JOB).planning_usage.cost_usd == pytest.approx(PLAN_USAGE.cost_usd)


def test_a_planning_wait_past_the_maximum_falls_back(rig: Rig) -> None:
    again = wait(rig, body())
    rig.clock.advance(101)
    assert run(rig, again, retries=1)["status"] == "running"
    assert len(rig.model.plan_calls) == 1


def test_a_job_cancelled_while_planning_waits_ends_cancelled(rig: Rig) -> None:
    again = wait(rig, body())
    rig.store.cancel(JOB)
    assert run(rig, again, retries=1)["status"] == JobStatus.CANCELLED.value
    assert rig.model.plan_calls == []
