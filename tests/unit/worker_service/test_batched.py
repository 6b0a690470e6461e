"""A batch-mode subtask (`options.mode = "batch"`) on stand-ins: it adds its request once and
waits at no attempt's cost, takes a succeeded answer at the batch price, falls back to the
direct call on error, expiry, cancel or a long wait, and honours the job's cancel."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chorus.contract.batches import BatchOutcome, custom_id
from chorus.contract.caching import CacheUse
from chorus.contract.models import Subtask, SubtaskAssignment, SubtaskResult, SubtaskStatus
from chorus.errors import RetryLater
from chorus.worker_service.batched import WAITING
from chorus.worker_service.execution import execute
from tests.support.schemas import FINDINGS
from tests.support.standins import WORKER_USAGE, Rig, make_rig, planned_record, worker_reply

JOB = "job-1"
CID = custom_id(JOB, "subtask", 0, 1, 1)


@pytest.fixture
def rig() -> Rig:
    rig = make_rig(batch_max_wait_s=600, batch_poll_s=7)
    rig.store.put(planned_record())
    return rig


def message(*, attempts_made: int = 0, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return SubtaskAssignment(
        job_id=JOB,
        task="write a haiku",
        subtask=Subtask(index=0, type="t0", description="d0"),
        model="worker-model",
        max_tokens=500,
        attempts_made=attempts_made,
        output_schema=schema,
        mode="batch",
        cache=CacheUse(ttl="1h"),  # as the dispatch marks a cacheable batch job's requests
    ).model_dump(mode="json")


def wait(rig: Rig, payload: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(RetryLater) as waiting:
        execute(rig.deps, payload)
    assert waiting.value.reason == WAITING
    assert waiting.value.countdown == 7
    assert waiting.value.kwargs is not None
    return waiting.value.kwargs


def answer(rig: Rig, result: str, message: dict[str, Any] | None = None) -> None:
    outcome = BatchOutcome(custom_id=CID, result=result, message=message, error=f"{result}!")
    rig.batches.collector.save_outcomes([outcome])


def finished(rig: Rig, payload: dict[str, Any]) -> SubtaskResult:
    result = execute(rig.deps, payload)
    assert isinstance(result, SubtaskResult)
    return result


def test_first_visit_adds_the_request_once_and_waits_costing_no_attempt(rig: Rig) -> None:
    again = wait(rig, message())
    assert again["attempts_made"] == 0 and again["first_started_at"] is not None
    assert rig.batches.flushes == ["later"]  # the first request since the last flush
    again = wait(rig, again)  # a later visit with no answer yet: nothing added, nothing called
    assert list(rig.batches.collector.items) == [CID]
    assert rig.batches.collector.pending == [CID]
    assert rig.model.subtask_calls == [] and rig.batches.flushes == ["later"]
    assert rig.model.batch_params[0]["cache_ttl"] == "1h"  # the dispatch's choice, kept


def test_a_succeeded_answer_is_the_result_at_the_batch_price(rig: Rig) -> None:
    again = wait(rig, message())
    answer(rig, "succeeded", {"id": "msg"})
    result = finished(rig, again)
    assert result.status is SubtaskStatus.SUCCEEDED and result.batched
    assert result.output == "t0: done" and result.attempts == 1
    assert result.usage.cost_usd == pytest.approx(WORKER_USAGE.cost_usd / 2)
    assert rig.model.subtask_calls == []  # no direct call


def test_a_schema_mismatch_gets_its_repair_round_directly(rig: Rig) -> None:
    rig.model.subtasks.extend([worker_reply("not json"), worker_reply('{"findings": []}')])
    again = wait(rig, message(schema=FINDINGS))
    answer(rig, "succeeded", {"id": "msg"})
    result = finished(rig, again)
    assert result.status is SubtaskStatus.SUCCEEDED and result.batched
    assert result.data == {"findings": []}
    assert len(rig.model.subtask_calls) == 1 and rig.model.repairs[0] is not None


@pytest.mark.parametrize("kind", ["errored", "expired", "canceled"])
def test_an_unanswered_request_falls_back_to_the_direct_call(rig: Rig, kind: str) -> None:
    again = wait(rig, message())
    answer(rig, kind)
    result = finished(rig, again)
    assert result.status is SubtaskStatus.SUCCEEDED and not result.batched
    assert len(rig.model.subtask_calls) == 1
    assert result.usage.cost_usd == pytest.approx(WORKER_USAGE.cost_usd)


def test_a_wait_past_batch_max_wait_falls_back(rig: Rig) -> None:
    again = wait(rig, message())
    rig.clock.advance(599)
    again = wait(rig, again)
    rig.clock.advance(2)
    result = finished(rig, again)
    assert not result.batched and len(rig.model.subtask_calls) == 1


def test_a_request_a_dead_flush_took_is_put_back(rig: Rig) -> None:
    again = wait(rig, message())
    collector = rig.batches.collector
    collector.take(10, rig.clock())  # a flush took it, then died before creating the batch
    rig.clock.advance(60)
    wait(rig, again)
    assert collector.items[CID].state == "taking"  # within the flush's lease: left alone
    rig.clock.advance(2 * rig.settings.model_timeout_s + 60)
    wait(rig, again)
    assert collector.items[CID].state == "pending" and collector.pending == [CID]


def test_cancel_drops_a_pending_request_and_skips(rig: Rig) -> None:
    again = wait(rig, message())
    rig.store.cancel(JOB)
    result = finished(rig, again)
    assert result.status is SubtaskStatus.SKIPPED and result.usage.cost_usd == 0
    assert rig.batches.collector.items == {} and rig.batches.collector.pending == []


def test_cancel_waits_for_a_request_in_a_batch_and_records_it(rig: Rig) -> None:
    again = wait(rig, message())
    collector = rig.batches.collector
    taken = collector.take(10, rig.clock())
    from chorus.contract.batches import BatchInfo

    collector.mark_sent(BatchInfo(batch_id="b1", custom_ids=[i.custom_id for i in taken],
                                  job_ids=[JOB]))  # fmt: skip
    rig.store.cancel(JOB)
    again = wait(rig, again)  # a call in flight: waited for
    answer(rig, "succeeded", {"id": "msg"})
    result = finished(rig, again)
    assert result.status is SubtaskStatus.SUCCEEDED and result.batched


def test_cancel_with_the_batch_cancelled_skips_at_no_cost(rig: Rig) -> None:
    again = wait(rig, message())
    rig.batches.collector.take(10, rig.clock())
    rig.store.cancel(JOB)
    answer(rig, "canceled")
    result = finished(rig, again)
    assert result.status is SubtaskStatus.SKIPPED and result.usage.cost_usd == 0
    assert rig.model.subtask_calls == []


def test_each_attempt_is_its_own_request(rig: Rig) -> None:
    wait(rig, message())
    wait(rig, message(attempts_made=1))
    assert set(rig.batches.collector.items) == {CID, custom_id(JOB, "subtask", 0, 1, 2)}


def test_without_a_collector_a_batch_job_calls_directly() -> None:
    rig = make_rig()
    rig.store.put(planned_record())
    deps = rig.deps.__class__(**{**rig.deps.__dict__, "batches": None})
    result = execute(deps, message())
    assert isinstance(result, SubtaskResult) and not result.batched


def test_the_collector_away_means_come_back_not_call(rig: Rig) -> None:
    def broken(custom_id: str) -> Any:
        raise ConnectionError("redis away")

    rig.batches.lookup = broken  # type: ignore[method-assign]
    with pytest.raises(RetryLater) as waiting:
        execute(rig.deps, message())
    assert waiting.value.reason == "store unavailable" and waiting.value.kwargs is not None
    assert rig.model.subtask_calls == []
    assert timedelta(seconds=waiting.value.countdown) <= timedelta(seconds=5)
