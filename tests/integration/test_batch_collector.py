"""The batch collector on a real Redis (`chorus.store.batches`): adding is idempotent and says
when to flush, a flush takes what is pending, nothing is lost when a flush dies, and items and
outcomes come back as JSON exactly as stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from chorus.contract import names
from chorus.contract.batches import BatchInfo, BatchItem, BatchOutcome
from chorus.store.batches import BatchCollector
from tests.support.factories import T0

pytestmark = pytest.mark.integration


@pytest.fixture
def collector(redis_url: str) -> Iterator[BatchCollector]:
    # Database 9 of the session's Redis: no Chorus process uses it.
    client = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/9", decode_responses=True)
    client.flushdb()
    yield BatchCollector(client, ttl_s=600, max_requests=3, window_s=0.5)
    client.flushdb()
    client.close()


def item(custom_id: str, job_id: str = "job-1") -> BatchItem:
    params = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "metadata": {}}
    return BatchItem(custom_id=custom_id, job_id=job_id, kind="subtask", params=params,
                     added_at=T0)  # fmt: skip


def test_add_is_idempotent_and_schedules_one_flush_per_window(collector: BatchCollector) -> None:
    assert collector.add(item("a")) == "later"
    assert collector.add(item("a")) is None
    assert collector.add(item("b")) is None
    assert collector.add(item("c")) == "now"  # batch_max_requests reached
    assert collector.pending_count() == 3
    found, outcome = collector.lookup("a")
    assert found is not None and found.state == "pending" and outcome is None
    assert found.params["metadata"] == {}  # JSON kept as written ({} not [])


def test_take_then_mark_sent_and_outcomes(collector: BatchCollector) -> None:
    for cid in "abcd":
        collector.add(item(cid))
    taken = collector.take(3, T0)
    assert [i.custom_id for i in taken] == ["a", "b", "c"] and collector.pending_count() == 1
    assert collector.add(item("e")) == "later"  # the flush cleared the marker
    collector.mark_sent(BatchInfo(batch_id="b1", custom_ids=["a", "b", "c"], job_ids=["job-1"]))
    found, _ = collector.lookup("b")
    assert found is not None and found.state == "sent" and found.batch_id == "b1"
    stored = collector.batch("b1")
    assert stored is not None and stored.custom_ids == ["a", "b", "c"]
    outcome = BatchOutcome(custom_id="b", result="succeeded", message={"id": "m", "content": []})
    collector.save_outcomes([outcome, outcome])
    assert collector.lookup("b")[1] == outcome


def test_nothing_is_lost_when_a_flush_fails_or_dies(collector: BatchCollector) -> None:
    for cid in "ab":
        collector.add(item(cid))
    collector.take(3, T0)
    collector.put_back(["a", "b"])  # the create failed retryably
    assert collector.pending_count() == 2
    assert [i.custom_id for i in collector.take(3, T0)] == ["a", "b"]
    # The flush died holding them: only the waiter that saw that take puts its request back.
    assert collector.requeue("a", T0 + timedelta(seconds=1)) is None
    assert collector.requeue("a", T0) == "later"
    assert collector.requeue("a", T0) is None
    assert collector.pending_count() == 1 and collector.lookup("a")[0].state == "pending"  # type: ignore[union-attr]


def test_drop_removes_only_a_request_not_yet_taken(collector: BatchCollector) -> None:
    collector.add(item("a"))
    collector.add(item("b"))
    collector.take(1, T0)
    assert not collector.drop("a")  # taken by a flush: a call in flight
    assert collector.drop("b") and collector.pending_count() == 0
    assert collector.lookup("b") == (None, None)
    client = collector._redis
    assert client.llen(names.BATCH_PENDING_KEY) == 0
