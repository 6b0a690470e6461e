"""A worker call's text published as `subtask_delta` batches while it streams: in order,
before the result, dropped when the attempt fails, never at the cost of the call."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from chorus.contract.events import EventKind
from chorus.contract.models import Subtask, SubtaskAssignment, SubtaskResult, SubtaskStatus
from chorus.core.ports import DeltaTail
from chorus.errors import RetryLater
from chorus.worker_service.execution import execute
from tests.support.schemas import FINDINGS
from tests.support.standins import (
    CutStream,
    PausedStream,
    Rig,
    make_rig,
    planned_record,
    transient,
    worker_reply,
)

JOB = "job-1"


def rig_for(**settings: Any) -> Rig:
    rig = make_rig(**settings)
    rig.store.put(planned_record())
    return rig


def message(index: int = 0, *, attempts_made: int = 0, **extra: Any) -> dict[str, Any]:
    return SubtaskAssignment(
        job_id=JOB,
        task="write a haiku",
        context={},
        subtask=Subtask(index=index, type=f"t{index}", description=f"d{index}"),
        model="worker-model",
        max_tokens=500,
        attempts_made=attempts_made,
        **extra,
    ).model_dump(mode="json")


def run(rig: Rig, payload: dict[str, Any]) -> SubtaskResult:
    result = execute(rig.deps, payload)
    assert isinstance(result, SubtaskResult), result
    return result


def test_the_streamed_text_is_published_before_the_result_and_reassembles_to_it() -> None:
    rig = rig_for()
    text = "A reply long enough to come in several pieces of four characters."
    rig.model.subtasks.append(worker_reply(text))
    seen_at_finish: list[str] = []
    emit = rig.events.emit

    def emitting(job_id: str, kind: EventKind, **data: Any) -> None:
        if kind is EventKind.SUBTASK_FINISHED:
            seen_at_finish.append(rig.events.delta_text(JOB, 0))
        emit(job_id, kind, **data)

    rig.events.emit = emitting  # type: ignore[method-assign]
    result = run(rig, message())
    assert result.output == text
    assert seen_at_finish == [text]  # every batch stored before the result was announced
    assert {attempt for attempt, _ in rig.events.deltas[(JOB, 0)]} == {1}
    # Faster than the first flush: the text went with the result, no round trip of its own.
    assert rig.events.delta_writes == 0


def test_a_reply_flushed_midway_sends_the_rest_with_its_result() -> None:
    rig = rig_for()
    rig.model.subtasks.append(PausedStream("first part, ", "then the rest"))
    result = run(rig, message())
    assert result.output == "first part, then the rest"
    batches = rig.events.deltas[(JOB, 0)]
    # At least one batch went mid-stream, on its own (more if this machine stalled for a
    # flush interval), and one more with the result; appended, not a fresh stream.
    assert rig.events.delta_writes >= 1 and len(batches) == rig.events.delta_writes + 1
    assert "".join(text for _, text in batches) == "first part, then the rest"


def test_a_redelivered_result_publishes_no_text_twice() -> None:
    rig = rig_for()
    rig.model.subtasks.append(worker_reply("once"))
    first = run(rig, message())
    stored = rig.store.save_result(JOB, first, tail=DeltaTail(1, "again", fresh=False))
    assert stored == first and rig.events.delta_text(JOB, 0) == "once"


def test_a_stream_cut_midway_drops_its_partial_text_and_asks_for_a_retry() -> None:
    rig = rig_for()
    rig.model.subtasks.append(CutStream("half a repl", transient("stream cut")))
    with pytest.raises(RetryLater):
        execute(rig.deps, message())
    assert rig.events.dropped[-1] == (JOB, 0)  # after the partial text was written
    assert rig.events.delta_text(JOB, 0) == ""
    # The retry streams the whole reply again, under its own attempt number.
    rig.model.subtasks.append(worker_reply("the whole reply"))
    result = run(rig, message(attempts_made=1))
    assert result.attempts == 2 and result.output == "the whole reply"
    assert rig.events.deltas[(JOB, 0)][0][0] == 2
    assert rig.events.delta_text(JOB, 0) == "the whole reply"


def test_a_redis_error_on_a_delta_write_does_not_fail_the_call() -> None:
    rig = rig_for()
    rig.events.delta_error = redis.ConnectionError("Redis went away")
    rig.model.subtasks.append(PausedStream("x" * 200, "y" * 200))
    result = run(rig, message())
    assert result.status is SubtaskStatus.SUCCEEDED and result.output == "x" * 200 + "y" * 200
    assert rig.events.delta_writes == 1  # given up after the first failure
    assert rig.events.delta_text(JOB, 0) == ""  # nor is the rest sent with the result
    assert EventKind.SUBTASK_FINISHED in rig.events.kinds(JOB)


def test_with_stream_deltas_off_nothing_is_published() -> None:
    rig = rig_for(stream_deltas=False)
    result = run(rig, message())
    assert result.status is SubtaskStatus.SUCCEEDED
    assert rig.events.delta_writes == 0


def test_a_repair_round_is_not_published() -> None:
    rig = rig_for()
    rig.model.subtasks.extend([worker_reply("not json"), worker_reply('{"findings": []}')])
    result = run(rig, message(output_schema=FINDINGS))
    assert rig.model.repairs[-1] is not None  # a repair round happened
    assert rig.events.delta_text(JOB, 0) == "not json"
    assert result.output == '{"findings": []}'
