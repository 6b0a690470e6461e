"""A worker that has a model reply and cannot store it: it keeps trying while the job can
still use it, then gives up to the reconciler; a store error before the call costs nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import redis

from chorus.contract.models import (
    Budget,
    Subtask,
    SubtaskAssignment,
    SubtaskResult,
    SubtaskStatus,
)
from chorus.errors import ResultNotStored, RetryLater
from chorus.worker_service.execution import execute
from tests.support.factories import T0
from tests.support.standins import Rig, make_rig, planned_record

JOB = "job-1"


def message(budget: Budget | None = None) -> dict[str, Any]:
    return SubtaskAssignment(
        job_id=JOB,
        task="write a haiku",
        subtask=Subtask(index=0, type="t0", description="d0"),
        model="worker-model",
        max_tokens=500,
        budget=budget or Budget(),
    ).model_dump(mode="json")


def down(n: int) -> list[BaseException]:
    return [redis.ConnectionError("Connection refused") for _ in range(n)]


@pytest.fixture
def rig() -> Rig:
    rig = make_rig(result_save_cap_s=30)
    rig.store.put(planned_record(1))
    return rig


def test_a_reply_is_stored_once_redis_answers_again(rig: Rig) -> None:
    rig.store.fail_next("save_result", *down(3))
    result = execute(rig.deps, message())
    assert isinstance(result, SubtaskResult) and result.status is SubtaskStatus.SUCCEEDED
    assert rig.store.results(JOB)[0].output == result.output
    assert rig.sleep.calls == [1.0, 2.0, 4.0]
    assert len(rig.model.subtask_calls) == 1  # the reply was kept, never asked for again


def test_out_of_memory_is_ridden_out_like_an_outage(rig: Rig) -> None:
    rig.store.fail_next("save_result", redis.exceptions.OutOfMemoryError("OOM command not allowed"))
    result = execute(rig.deps, message())
    assert result is not None and 0 in rig.store.results(JOB)


def test_past_the_cap_the_worker_gives_up_to_the_reconciler(rig: Rig) -> None:
    rig.store.fail_next("save_result", *down(100))
    with pytest.raises(ResultNotStored):
        execute(rig.deps, message())
    assert sum(rig.sleep.calls) == pytest.approx(30)
    assert max(rig.sleep.calls) <= 10
    assert not rig.store.results(JOB)


def test_the_jobs_deadline_bounds_the_tries(rig: Rig) -> None:
    rig.store.fail_next("save_result", *down(100))
    with pytest.raises(ResultNotStored):
        execute(rig.deps, message(Budget(deadline_at=T0 + timedelta(seconds=7))))
    assert sum(rig.sleep.calls) == pytest.approx(7)


def test_the_visibility_timeout_bounds_the_tries() -> None:
    rig = make_rig(result_save_cap_s=900, visibility_timeout_s=75)
    rig.store.put(planned_record(1))
    rig.store.fail_next("save_result", *down(100))
    with pytest.raises(ResultNotStored):
        execute(rig.deps, message())
    assert sum(rig.sleep.calls) == pytest.approx(15)  # 75 s less the 60 s margin


def test_a_store_error_before_the_call_retries_without_a_call(rig: Rig) -> None:
    rig.store.fail_next("before_subtask", redis.ConnectionError("Connection refused"))
    with pytest.raises(RetryLater) as raised:
        execute(rig.deps, message())
    assert raised.value.reason == "store unavailable"
    assert 2 <= raised.value.countdown <= 5
    assert not rig.model.subtask_calls
