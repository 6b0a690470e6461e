"""A plan the model was paid for is kept while the store is away, never asked for again."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis

from chorus.contract.models import JobOptions, JobRequest, JobStatus
from chorus.core import records
from chorus.errors import ResultNotStored
from chorus.orchestrator_service.planning import plan_job
from tests.support.factories import T0
from tests.support.standins import Rig, make_rig

JOB = "job-1"


def submitted(rig: Rig) -> JobRequest:
    request = JobRequest(task="write a haiku", job_id=JOB)
    rig.store.create(
        records.new_record(
            request, JOB, orchestrator_model="o", worker_model="w", simulated=True, now=T0
        )
    )
    return request


def test_the_plan_is_stored_once_the_store_answers_again() -> None:
    rig = make_rig()
    request = submitted(rig)
    rig.store.fail_next("update", *[redis.ConnectionError("down")] * 3)
    record = plan_job(rig.deps, request, retries=0, claimant="task-1")
    assert record.status is JobStatus.RUNNING and record.plan is not None
    assert len(rig.model.plan_calls) == 1
    assert rig.sleep.calls == [1.0, 2.0, 4.0]


def test_past_the_cap_planning_gives_up_without_a_second_call() -> None:
    rig = make_rig(result_save_cap_s=20)
    request = submitted(rig)
    rig.store.fail_next("update", *[redis.ConnectionError("down")] * 100)
    with pytest.raises(ResultNotStored):
        plan_job(rig.deps, request, retries=0, claimant="task-1")
    assert sum(rig.sleep.calls) == pytest.approx(20)
    assert len(rig.model.plan_calls) == 1


def test_the_jobs_deadline_bounds_the_tries() -> None:
    rig = make_rig(result_save_cap_s=900)
    request = submitted(rig).model_copy(update={"options": JobOptions(deadline_s=30)})
    rig.store.put(rig.store.record(JOB).model_copy(update={"request": request}))
    rig.clock.advance(25)
    rig.store.fail_next("update", *[redis.ConnectionError("down")] * 100)
    with pytest.raises(ResultNotStored):
        plan_job(rig.deps, request, retries=0, claimant="task-1")
    assert sum(rig.sleep.calls) == pytest.approx(5)
    assert rig.clock() - T0 == timedelta(seconds=30)
