"""The result script (`SAVE_RESULT_LUA`) writing a reply's last text with the result, on a real
Redis: appended to the subtask's delta stream before `subtask_finished`, the stream emptied
first for a call's first batch, and nothing written by a losing (redelivered) save."""

from __future__ import annotations

import uuid

from chorus.contract import names
from chorus.contract.events import EventKind
from chorus.contract.models import SubtaskResult, SubtaskStatus, Usage
from chorus.core import records
from chorus.core.ports import DeltaTail
from chorus.store.events import JobEvents
from chorus.store.jobs import JobStore


def _result(output: str) -> SubtaskResult:
    now = records.utc_now()
    return SubtaskResult(
        index=0, type="part0", description="part 0", status=SubtaskStatus.SUCCEEDED,
        output=output, usage=Usage(input_tokens=3, output_tokens=4), started_at=now,
        finished_at=now,
    )  # fmt: skip


def _texts(store: JobStore, job_id: str) -> list[tuple[str, object]]:
    events = JobEvents(store._redis, ttl_s=60).read(job_id, deltas=True, block_ms=1)
    return [(e.kind.value, e.data.get("text")) for e in events]


def test_the_tail_is_written_with_the_result_before_its_announcement(store: JobStore) -> None:
    job_id = f"tail-{uuid.uuid4().hex}"
    events = JobEvents(store._redis, ttl_s=60)
    events.delta(job_id, 0, 1, "a killed attempt's text", fresh=True)

    store.save_result(job_id, _result("the reply"), tail=DeltaTail(2, "the reply", fresh=True))

    assert _texts(store, job_id) == [
        (EventKind.SUBTASK_DELTA.value, "the reply"),  # the killed attempt's text is gone
        (EventKind.SUBTASK_FINISHED.value, None),
    ]
    delta = JobEvents(store._redis, ttl_s=60).read(job_id, deltas=True, block_ms=1)[0]
    assert delta.data == {"job_id": job_id, "index": 0, "attempt": 2, "text": "the reply"}
    # It lingers like any delta stream once its result is in (delta_linger_s, 30 s).
    assert 0 < store._redis.pttl(names.job_deltas_key(job_id, 0)) <= 30_000


def test_a_later_batch_is_appended_and_a_losing_save_writes_nothing(store: JobStore) -> None:
    job_id = f"tail-{uuid.uuid4().hex}"
    JobEvents(store._redis, ttl_s=60).delta(job_id, 0, 1, "first part, ", fresh=True)
    first = _result("first part, the rest")

    assert store.save_result(job_id, first, tail=DeltaTail(1, "the rest", fresh=False)) == first
    again = store.save_result(
        job_id, _result("another reply"), tail=DeltaTail(1, "another reply", fresh=True)
    )

    assert again == first  # the first result stays, and so does its text
    assert [text for _, text in _texts(store, job_id)] == ["first part, ", "the rest", None]


def test_a_save_without_a_tail_leaves_the_stream_as_it_was(store: JobStore) -> None:
    job_id = f"tail-{uuid.uuid4().hex}"
    JobEvents(store._redis, ttl_s=60).delta(job_id, 0, 1, "all of it", fresh=True)
    store.save_result(job_id, _result("all of it"))
    assert [text for _, text in _texts(store, job_id)] == ["all of it", None]
