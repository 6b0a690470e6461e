"""One job per job id, whatever delivers `orchestrator.run_job`: a different request under a
taken id is rejected, concurrent deliveries plan once and the chord goes out once."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from chorus.contract.models import JobRecord, JobRequest, JobStatus
from chorus.core import records
from chorus.errors import RetryLater
from chorus.orchestrator_service.planning import PlanningBusy, parse_request, run_job
from tests.support.factories import T0, result
from tests.support.standins import Dispatch, Rig, make_rig, planned_record, transient

JOB = "job-1"
# With the test settings: 2 rounds x (2 s timeout + 11 s throttle) + 4 s backoff + 1.
CLAIM_TTL_S = 31.0


@pytest.fixture
def rig() -> Rig:
    return make_rig()


def planning() -> JobRecord:
    """The record submit writes before it enqueues run_job."""
    return records.new_record(
        JobRequest(task="write a haiku"), JOB, orchestrator_model="o", worker_model="w",
        simulated=True, now=T0,
    )  # fmt: skip


def payload(**extra: Any) -> dict[str, Any]:
    return {"task": "write a haiku", "job_id": JOB, **extra}


def run(
    rig: Rig,
    body: dict[str, Any],
    *,
    retries: int = 0,
    dispatch: Dispatch | None = None,
    delivery: str | None = "tag-a",
) -> dict[str, Any]:
    return run_job(
        rig.deps,
        body,
        task_id="task-1",
        retries=retries,
        dispatch=dispatch or Dispatch(),
        delivery=delivery,
    )


# -- a taken job id -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "other",
    [
        payload(task="another task"),
        payload(context={"x": 1}),
        payload(options={"max_subtasks": 1}),
        payload(tenant="someone"),
    ],
    ids=["task", "context", "options", "tenant"],
)
@pytest.mark.parametrize(
    "first",
    [planning(), planned_record(), records.finalized(planned_record(1), {0: result(0)}, T0)],
    ids=["planning", "running", "succeeded"],
)
def test_a_different_request_under_a_taken_id_is_rejected_and_changes_nothing(
    rig: Rig, first: JobRecord, other: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    stored = rig.store.put(first)
    dispatch = Dispatch()
    with caplog.at_level(logging.WARNING):
        outcome = run(rig, other, dispatch=dispatch)
    assert outcome == {
        "job_id": JOB,
        "status": "rejected",
        "error": "job_id 'job-1' already names a different job",
    }
    assert "already names a different job" in caplog.text
    assert rig.store.record(JOB) == stored and rig.store.planner(JOB) is None
    assert rig.model.calls == 0 and dispatch.calls == [] and rig.events.emitted == []


def test_the_same_request_again_is_a_no_op_returning_the_jobs_status(rig: Rig) -> None:
    dispatch = Dispatch()
    assert run(rig, payload(), dispatch=dispatch)["status"] == "running"
    again = run(rig, payload(), dispatch=dispatch, delivery="tag-b")
    assert again == {"job_id": JOB, "status": "running"}
    assert len(rig.model.plan_calls) == 1 and len(dispatch.calls) == 1


def test_an_over_long_task_id_cannot_become_the_job_id() -> None:
    reason = parse_request({"task": "t"}, fallback_job_id="x" * 5000)
    assert reason == "job_id (the task id): job_id must be 1-128 letters, digits or _.:- characters"


def test_an_over_long_job_id_is_rejected_without_echoing_it(rig: Rig) -> None:
    outcome = run(rig, payload(job_id="x" * 5000))
    assert outcome["status"] == "rejected" and outcome["job_id"] is None
    assert "1-128" in outcome["error"] and rig.store.is_empty


# -- the planning claim -------------------------------------------------------------------


def test_a_delivery_finding_the_claim_held_waits_without_planning(rig: Rig) -> None:
    rig.store.create(planning())
    assert rig.store.claim_planning(JOB, "tag-a", ttl_s=CLAIM_TTL_S)
    with pytest.raises(PlanningBusy) as caught:
        run(rig, payload(), retries=3, delivery="tag-b")
    assert caught.value.countdown == 1.0
    # Its own claim and one more wait travel with it; waits cost no attempt.
    assert caught.value.kwargs == {**payload(), "planning_claim": "tag-b", "planning_waits": 1}
    assert rig.model.calls == 0 and rig.store.planner(JOB) == "tag-a"


def test_the_waiting_delivery_returns_the_status_once_planning_is_done(rig: Rig) -> None:
    dispatch = Dispatch()
    run(rig, payload(), dispatch=dispatch)  # tag-a plans and dispatches
    body = payload(planning_claim="tag-b", planning_waits=4)
    assert run(rig, body, retries=4, dispatch=dispatch) == {"job_id": JOB, "status": "running"}
    assert len(rig.model.plan_calls) == 1 and len(dispatch.calls) == 1


def test_the_holders_retry_carries_its_claim_and_plans(rig: Rig) -> None:
    rig.model.plans.append(transient())
    with pytest.raises(RetryLater) as caught:
        run(rig, payload(), delivery="tag-a")
    assert caught.value.kwargs is not None
    # The retry is a new message (another delivery tag) carrying the claim in its kwargs.
    outcome = run(rig, caught.value.kwargs, retries=1, delivery="tag-z")
    assert outcome["status"] == "running" and len(rig.model.plan_calls) == 2


def test_a_redelivery_of_the_holding_message_carries_on(rig: Rig) -> None:
    # A process died mid-plan; its message is handed back with the same delivery tag.
    rig.store.create(planning())
    assert rig.store.claim_planning(JOB, "tag-a", ttl_s=CLAIM_TTL_S)
    assert run(rig, payload(), delivery="tag-a")["status"] == "running"


def test_without_a_delivery_tag_the_task_id_claims(rig: Rig) -> None:
    run(rig, payload(), delivery=None)
    assert rig.store.planner(JOB) == "task-1"


def test_a_claim_lapses_after_its_ttl_and_another_delivery_plans(rig: Rig) -> None:
    rig.store.create(planning())
    assert rig.store.claim_planning(JOB, "lost", ttl_s=CLAIM_TTL_S)
    rig.clock.advance(CLAIM_TTL_S - 1)
    with pytest.raises(PlanningBusy):
        run(rig, payload())
    rig.clock.advance(1)
    assert run(rig, payload())["status"] == "running"
    assert rig.store.planner(JOB) == "tag-a"


def test_the_claim_is_held_as_long_as_a_slow_planning_attempt_can_take(rig: Rig) -> None:
    run(rig, payload())
    rig.clock.advance(CLAIM_TTL_S - 0.5)
    assert rig.store.planner(JOB) == "tag-a"
    rig.clock.advance(1)
    assert rig.store.planner(JOB) is None


def test_waits_do_not_count_as_attempts(rig: Rig) -> None:
    # Three retries, all spent waiting: a model error now is attempt 1 of 3, retried.
    rig.model.plans.append(transient())
    body = payload(planning_claim="tag-b", planning_waits=2)
    with pytest.raises(RetryLater) as caught:
        run(rig, body, retries=2)
    assert caught.value.kwargs is not None and caught.value.kwargs["planning_waits"] == 2
    assert rig.store.record(JOB).status is JobStatus.PLANNING


@pytest.mark.parametrize("waits", [-1, 9, "2", None])
def test_a_waits_count_that_cannot_be_true_is_ignored(rig: Rig, waits: object) -> None:
    rig.model.plans.append(transient())
    outcome = run(rig, payload(planning_waits=waits), retries=2)
    assert outcome["status"] == "failed"  # attempt 3 of 3


# -- dispatch once ------------------------------------------------------------------------


def test_a_job_already_dispatched_is_not_dispatched_again(rig: Rig) -> None:
    rig.store.put(planned_record())
    assert rig.store.mark_dispatched(JOB)
    dispatch = Dispatch()
    assert run(rig, payload(), dispatch=dispatch) == {"job_id": JOB, "status": "running"}
    assert dispatch.calls == [] and rig.model.calls == 0


def test_a_send_that_fails_clears_the_mark_so_the_retry_sends(rig: Rig) -> None:
    with pytest.raises(RetryLater):
        run(rig, payload(), dispatch=Dispatch(RuntimeError("broker down")))
    assert JOB not in rig.store.dispatched
    dispatch = Dispatch()
    run(rig, payload(), retries=1, dispatch=dispatch)
    assert len(dispatch.calls) == 1 and JOB in rig.store.dispatched
