"""A reply paid for in an attempt that then fails (its repair call errors) stays on the bill:
its usage travels with the retry and lands on the subtask's final result, whatever ends it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chorus.contract.models import (
    Subtask,
    SubtaskAssignment,
    SubtaskResult,
    SubtaskStatus,
    Usage,
)
from chorus.errors import RetryLater
from chorus.worker_service.execution import execute
from tests.support.schemas import FINDINGS
from tests.support.standins import (
    WORKER_USAGE,
    Rig,
    make_rig,
    permanent,
    planned_record,
    transient,
    worker_reply,
)

FINDING = {"severity": "low", "file": "a.py", "line": 1, "problem": "p", "fix": "f"}
GOOD = json.dumps({"findings": [FINDING]})


@pytest.fixture
def rig() -> Rig:
    rig = make_rig(max_attempts=3)
    rig.store.put(planned_record(1))
    return rig


def typed(**fields: Any) -> dict[str, Any]:
    return {**message(**fields), "output_schema": FINDINGS}


def message(**fields: Any) -> dict[str, Any]:
    return SubtaskAssignment(
        job_id="job-1",
        task="review this",
        subtask=Subtask(index=0, type="t0", description="d0"),
        model="worker-model",
        max_tokens=500,
        **fields,
    ).model_dump(mode="json")


def test_a_failed_repair_call_carries_the_first_replys_usage_into_the_retry(rig: Rig) -> None:
    rig.model.subtasks.extend([worker_reply("not json"), transient("overloaded")])
    with pytest.raises(RetryLater) as raised:
        execute(rig.deps, typed())
    assert raised.value.kwargs is not None
    assert Usage.model_validate(raised.value.kwargs["carried_usage"]) == WORKER_USAGE


def test_the_carried_usage_lands_on_the_final_result(rig: Rig) -> None:
    rig.model.subtasks.append(worker_reply(GOOD))
    result = execute(rig.deps, typed(attempts_made=1, carried_usage=WORKER_USAGE))
    assert isinstance(result, SubtaskResult) and result.status is SubtaskStatus.SUCCEEDED
    assert result.usage == WORKER_USAGE + WORKER_USAGE  # the lost reply and this one


def test_a_permanent_failure_keeps_what_this_attempt_and_earlier_ones_paid(rig: Rig) -> None:
    rig.model.subtasks.extend([worker_reply("not json"), permanent("bad request")])
    result = execute(rig.deps, typed(attempts_made=1, carried_usage=WORKER_USAGE))
    assert isinstance(result, SubtaskResult) and result.status is SubtaskStatus.FAILED
    assert result.usage == WORKER_USAGE + WORKER_USAGE
    assert rig.store.control("job-1").spent_tokens == 2 * WORKER_USAGE.total_tokens


def test_a_subtask_skipped_on_its_retry_keeps_the_carried_usage(rig: Rig) -> None:
    rig.store.cancel("job-1")
    result = execute(rig.deps, typed(attempts_made=1, carried_usage=WORKER_USAGE))
    assert isinstance(result, SubtaskResult) and result.status is SubtaskStatus.SKIPPED
    assert result.usage == WORKER_USAGE
