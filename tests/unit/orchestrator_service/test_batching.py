"""Batch mode's flush and poll (`chorus.orchestrator_service.batching`) on stand-ins: what a
flush sends and schedules, how a failed create is handled, how outcomes are stored, and that
a batch whose jobs are all cancelled is cancelled."""

from __future__ import annotations

import pytest

from chorus.contract.batches import BatchItem, BatchOutcome, custom_id
from chorus.errors import RetryLater
from chorus.orchestrator_service import batching
from tests.support.batch_standins import MemoryBatchCollector
from tests.support.factories import T0
from tests.support.standins import (
    FakeClock,
    MemoryStore,
    ScriptedModel,
    make_settings,
    permanent,
    planned_record,
    transient,
)


class Harness:
    def __init__(self, max_requests: int = 3) -> None:
        self.settings = make_settings(batch_max_requests=max_requests, batch_poll_s=5)
        self.collector = MemoryBatchCollector(max_requests=max_requests)
        self.model = ScriptedModel()
        self.clock = FakeClock()
        self.store = MemoryStore(clock=self.clock)
        self.flushes = 0
        self.polls: list[tuple[str, float]] = []
        self.deps = batching.BatchDeps(
            settings=self.settings,
            collector=self.collector,
            model=self.model,
            store=self.store,
            clock=self.clock,
            schedule_flush=self._flush,
            schedule_poll=lambda batch_id, countdown: self.polls.append((batch_id, countdown)),
        )

    def _flush(self) -> None:
        self.flushes += 1

    def add(self, job_id: str, index: int) -> str:
        cid = custom_id(job_id, "subtask", index, 1, 1)
        item = BatchItem(custom_id=cid, job_id=job_id, kind="subtask", index=index,
                         params={"n": index}, added_at=T0)  # fmt: skip
        self.collector.add(item)
        return cid


@pytest.fixture
def h() -> Harness:
    h = Harness()
    for job_id in ("job-1", "job-2"):
        h.store.put(planned_record(job_id=job_id))
    return h


def test_collector_add_is_idempotent_and_says_when_to_flush() -> None:
    collector = MemoryBatchCollector(max_requests=3)
    item = BatchItem(custom_id="a", job_id="j", kind="plan", params={}, added_at=T0)
    assert collector.add(item) == "later"  # the first since the last flush
    assert collector.add(item) is None  # the same request again: nothing added
    assert collector.add(item.model_copy(update={"custom_id": "b"})) is None  # one scheduled
    assert collector.add(item.model_copy(update={"custom_id": "c"})) == "now"  # full
    assert collector.pending == ["a", "b", "c"]


def test_custom_ids_are_deterministic_and_valid() -> None:
    one = custom_id("job-1", "subtask", 2, 1, 1)
    assert one == custom_id("job-1", "subtask", 2, 1, 1)
    assert len({one, custom_id("job-1", "subtask", 2, 1, 2), custom_id("job-1", "plan", 2, 1, 1),
                custom_id("job-2", "subtask", 2, 1, 1)}) == 4  # fmt: skip
    BatchItem(custom_id=one, job_id="j", kind="plan", params={}, added_at=T0)  # the pattern


def test_flush_sends_up_to_max_and_schedules_the_rest_and_the_poll(h: Harness) -> None:
    ids = [h.add("job-1", i) for i in range(3)] + [h.add("job-2", 0)]
    result = batching.flush(h.deps)
    assert result == {"batch_id": "batch-1", "requests": 3, "dropped": 0}
    sent = h.model.created_batches["batch-1"]
    assert [r["custom_id"] for r in sent] == ids[:3] and sent[0]["params"] == {"n": 0}
    assert h.flushes == 1  # one more request waits: the next flush goes at once
    assert h.polls == [("batch-1", 5)]
    assert all(h.collector.items[c].state == "sent" for c in ids[:3])
    assert h.collector.batches["batch-1"].job_ids == ["job-1"]
    assert batching.flush(h.deps)["requests"] == 1 and h.flushes == 1


def test_flush_with_nothing_pending_sends_nothing(h: Harness) -> None:
    assert batching.flush(h.deps)["batch_id"] is None
    assert h.model.created_batches == {} and h.polls == []


def test_flush_drops_the_requests_of_cancelled_jobs(h: Harness) -> None:
    dropped, kept = h.add("job-1", 0), h.add("job-2", 0)
    h.store.cancel("job-1")
    assert batching.flush(h.deps)["dropped"] == 1
    assert [r["custom_id"] for r in h.model.created_batches["batch-1"]] == [kept]
    assert h.collector.outcomes[dropped].result == "canceled"


def test_a_create_failing_retryably_puts_the_requests_back(h: Harness) -> None:
    ids = [h.add("job-1", 0), h.add("job-1", 1)]
    h.model.batch_create_errors.append(transient())
    with pytest.raises(RetryLater):
        batching.flush(h.deps)
    assert h.collector.pending == ids
    assert all(h.collector.items[c].state == "pending" for c in ids)
    assert batching.flush(h.deps, retries=1)["requests"] == 2


def test_a_create_failing_for_good_answers_errored(h: Harness) -> None:
    cid = h.add("job-1", 0)
    h.model.batch_create_errors.append(permanent("invalid request"))
    assert batching.flush(h.deps)["errored"] == 1
    outcome = h.collector.outcomes[cid]
    assert outcome.result == "errored" and "invalid request" in (outcome.error or "")


def test_poll_waits_until_the_batch_ends_then_stores_every_outcome(h: Harness) -> None:
    ids = [h.add("job-1", 0), h.add("job-1", 1)]
    batching.flush(h.deps)
    h.model.batch_ended["batch-1"] = False
    with pytest.raises(RetryLater) as waiting:
        batching.poll(h.deps, "batch-1")
    assert waiting.value.countdown == 5 and h.collector.outcomes == {}
    h.model.batch_ended["batch-1"] = True
    h.model.batch_outcomes["batch-1"] = [
        BatchOutcome(custom_id=ids[0], result="succeeded", message={"id": "m"})
    ]
    result = batching.poll(h.deps, "batch-1")
    assert result == {"batch_id": "batch-1", "status": "ended", "succeeded": 1, "errored": 1}
    assert h.collector.outcomes[ids[1]].result == "errored"  # no line for it: fall back
    assert batching.poll(h.deps, "batch-1") == result  # a redelivered poll: the same again


def test_poll_retries_a_transient_failure_and_gives_up_on_a_permanent_one(h: Harness) -> None:
    cid = h.add("job-1", 0)
    batching.flush(h.deps)
    h.model.batch_status_errors.extend([transient(retry_after_s=9), permanent("not found")])
    with pytest.raises(RetryLater) as waiting:
        batching.poll(h.deps, "batch-1")
    assert waiting.value.countdown == 9
    assert batching.poll(h.deps, "batch-1")["status"] == "unreadable"
    assert h.collector.outcomes[cid].result == "errored"


def test_poll_cancels_a_batch_once_every_job_in_it_is_cancelled(h: Harness) -> None:
    h.add("job-1", 0)
    h.add("job-2", 0)
    batching.flush(h.deps)
    h.model.batch_ended["batch-1"] = False
    h.store.cancel("job-1")
    with pytest.raises(RetryLater):
        batching.poll(h.deps, "batch-1")
    assert h.model.cancelled_batches == []  # job-2 still wants its answer
    h.store.cancel("job-2")
    for _ in range(2):
        with pytest.raises(RetryLater):
            batching.poll(h.deps, "batch-1")
    assert h.model.cancelled_batches == ["batch-1"]  # once
