"""`worker.run_subtask` runs only a subtask its job owns: for no such job, an index the plan
does not have, or a job not awaiting results, nothing is called and nothing is written."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from chorus.contract.models import JobRecord, JobRequest, Subtask, SubtaskAssignment
from chorus.core import records
from chorus.worker_service.execution import execute
from chorus.worker_service.refusals import Refused
from tests.support.factories import T0, result
from tests.support.standins import Rig, make_rig, planned_record

JOB = "job-1"


@pytest.fixture
def rig() -> Rig:
    return make_rig()


def message(index: int = 0, job_id: str = JOB) -> dict[str, Any]:
    return SubtaskAssignment(
        job_id=job_id,
        task="write a haiku",
        subtask=Subtask(index=index, type=f"t{index}", description=f"d{index}"),
        model="worker-model",
        max_tokens=500,
    ).model_dump(mode="json")


def refused(rig: Rig, body: dict[str, Any]) -> str:
    outcome = execute(rig.deps, body, node="w1")
    assert isinstance(outcome, Refused), outcome
    assert rig.model.calls == 0 and rig.limiter.calls == [] and rig.events.emitted == []
    return outcome.reason


def test_a_message_for_no_such_job_is_refused_and_writes_nothing(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert refused(rig, message(job_id="ghost")) == "no job 'ghost'"
    assert rig.store.is_empty and "no job 'ghost'" in caplog.text


def test_an_index_the_plan_does_not_have_is_refused(rig: Rig) -> None:
    rig.store.put(planned_record(3))
    assert refused(rig, message(3)) == "job 'job-1' has no subtask 3"
    assert rig.store.results(JOB) == {}


def planning() -> JobRecord:
    return records.new_record(
        JobRequest(task="t"), JOB, orchestrator_model="o", worker_model="w",
        simulated=True, now=T0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("record", "status"),
    [
        (planning(), "planning"),
        (records.with_cancellation(planning(), T0), "cancelled"),
        (records.finalized(planned_record(2), {0: result(0)}, T0), "partial"),
        (records.with_failure(planned_record(), "boom", T0), "failed"),
    ],
)
def test_a_job_not_awaiting_results_takes_none(rig: Rig, record: JobRecord, status: str) -> None:
    rig.store.put(record)
    reason = refused(rig, message(1))
    assert reason == f"job 'job-1' is {status} and takes no subtask results"
    assert rig.store.results(JOB) == {}


def test_a_cancelled_job_awaiting_results_still_records_the_skip(rig: Rig) -> None:
    rig.store.put(planned_record())
    rig.store.cancel(JOB)
    outcome = execute(rig.deps, message(1))
    assert not isinstance(outcome, Refused) and outcome.status.value == "skipped"


def test_a_result_already_stored_is_returned_even_once_the_job_is_over(rig: Rig) -> None:
    rig.store.put(records.finalized(planned_record(1), {0: result(0)}, T0))
    stored = rig.store.save_result(JOB, result(0))
    assert execute(rig.deps, message(0)) == stored and rig.model.calls == 0


def test_an_over_long_job_id_is_refused_before_the_store_is_asked(rig: Rig) -> None:
    body = {**message(), "job_id": "x" * 5000}
    rig.store.fail_next("before_subtask", AssertionError("the store was asked"))
    reason = refused(rig, body)
    assert reason == "job_id: job_id must be 1-128 letters, digits or _.:- characters"
    assert rig.store.is_empty


def test_a_malformed_message_for_no_such_job_writes_nothing(rig: Rig) -> None:
    body = {**message(job_id="ghost"), "max_tokens": 0}
    reason = refused(rig, body)
    assert reason.startswith("max_tokens: ") and reason.endswith("; no job 'ghost'")
    assert rig.store.is_empty


def test_a_malformed_message_for_an_index_its_job_does_not_own_writes_nothing(rig: Rig) -> None:
    rig.store.put(planned_record(2))
    reason = refused(rig, {**message(5), "max_tokens": 0})
    assert reason.endswith("; job 'job-1' has no subtask 5")
    assert rig.store.results(JOB) == {}


def test_a_malformed_redelivery_returns_the_stored_result(rig: Rig) -> None:
    rig.store.put(planned_record(2))
    stored = rig.store.save_result(JOB, result(0))
    assert execute(rig.deps, {**message(0), "max_tokens": 0}) == stored


def test_refusal_reasons_are_pure() -> None:
    running = planned_record(2)
    assert records.owned_subtasks(running) == [0, 1]
    assert records.subtask_refusal(JOB, 1, None, [0, 1]) is None
    assert records.subtask_refusal(JOB, 2, None, [0, 1]) == "job 'job-1' has no subtask 2"
    assert records.subtask_refusal(JOB, 0, None, None) == "no job 'job-1'"
    assert records.owned_subtasks(planning()) is None
