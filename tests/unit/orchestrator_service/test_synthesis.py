"""Optional synthesis: when it is wanted and what each model outcome turns into."""

from __future__ import annotations

import random

import pytest

from chorus.contract.models import JobOptions, JobRecord, SubtaskResult, SubtaskStatus, Usage
from chorus.core import records
from chorus.core.records import Synthesis
from chorus.errors import RetryLater
from chorus.orchestrator_service.synthesis import synthesize, wanted
from tests.support.factories import T0
from tests.support.standins import (
    SYNTHESIS_USAGE,
    WORKER_USAGE,
    CutStream,
    Rig,
    make_rig,
    permanent,
    planned_record,
    transient,
    worker_reply,
)

SYNTH = JobOptions(synthesize=True)


SUCCEEDED = SubtaskStatus.SUCCEEDED
FAILED = SubtaskStatus.FAILED
SKIPPED = SubtaskStatus.SKIPPED


def res(i: int, status: SubtaskStatus = SUCCEEDED, output: str | None = None) -> SubtaskResult:
    ok = status is SUCCEEDED
    return SubtaskResult(
        index=i, type=f"t{i}", description=f"d{i}", status=status,
        output=output if output is not None or not ok else f"out{i}",
        error=None if ok else "no", finished_at=T0,
    )  # fmt: skip


@pytest.fixture
def rig() -> Rig:
    return make_rig()


@pytest.mark.parametrize(
    ("record", "results", "expected"),
    [
        (planned_record(options=SYNTH), {0: res(0)}, True),
        (planned_record(options=SYNTH), {0: res(0, FAILED), 1: res(1)}, True),
        (planned_record(options=SYNTH), {0: res(0, FAILED), 1: res(1, SKIPPED)}, False),
        (planned_record(options=SYNTH), {}, False),
        (planned_record(), {0: res(0)}, False),
        (records.with_cancellation(planned_record(options=SYNTH), T0), {0: res(0)}, False),
        (records.with_failure(planned_record(options=SYNTH), "x", T0), {0: res(0)}, False),
    ],
    ids=[
        "running-asked-succeeded",
        "one-of-two-succeeded",
        "none-succeeded",
        "no-results",
        "not-asked",
        "cancelled",
        "failed",
    ],
)
def test_synthesis_is_wanted_only_for_a_running_job_that_asked_and_has_a_success(
    record: JobRecord, results: dict[int, SubtaskResult], expected: bool
) -> None:
    assert wanted(record, results) is expected


def test_a_success_returns_the_text_and_usage_and_calls_with_the_jobs_settings(rig: Rig) -> None:
    record = planned_record(options=SYNTH, context={"audience": "kids"})
    outcome = synthesize(rig.deps, record, {0: res(0), 1: res(1)}, attempt=1)
    assert outcome == Synthesis(text="out0 | out1", usage=SYNTHESIS_USAGE, error=None)
    [call] = rig.model.synthesis_calls
    assert (call.task, call.context) == ("write a haiku", {"audience": "kids"})
    assert (call.model, call.max_tokens) == ("orch-model", 1000)
    assert not rig.store.retries


def test_the_request_can_raise_the_synthesis_token_cap(rig: Rig) -> None:
    record = planned_record(options=JobOptions(synthesize=True, plan_max_tokens=77))
    synthesize(rig.deps, record, {0: res(0)}, attempt=1)
    assert rig.model.synthesis_calls[0].max_tokens == 77


def test_only_succeeded_outputs_are_passed_in_index_order(rig: Rig) -> None:
    results = {
        3: res(3, output="three"),
        0: res(0, FAILED),
        2: res(2, SKIPPED),
        1: res(1, output="one"),
        4: res(4, output=""),
    }
    rig.model.syntheses.append(worker_reply("combined", truncated=True))
    outcome = synthesize(rig.deps, planned_record(5, options=SYNTH), results, attempt=1)
    assert rig.model.synthesis_calls[0].outputs == [
        {"type": "t1", "output": "one"},
        {"type": "t3", "output": "three"},
        {"type": "t4", "output": ""},
    ]
    assert outcome.text == "combined" and outcome.error is None


@pytest.mark.parametrize(("attempt", "window"), [(1, 1.0), (2, 2.0)])
def test_a_retryable_error_asks_for_a_retry_counted_under_synthesis(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, attempt: int, window: float
) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    rig.model.syntheses.append(transient("overloaded"))
    record = planned_record(options=SYNTH)
    with pytest.raises(RetryLater) as caught:
        synthesize(rig.deps, record, {0: res(0)}, attempt=attempt)
    assert caught.value.countdown == window and caught.value.reason == "overloaded"
    # The next delivery knows how many synthesis calls were tried.
    assert caught.value.kwargs == {"job_id": record.job_id, "synthesis_attempts": attempt}
    assert rig.store.retries == {"synthesis": 1}


@pytest.mark.parametrize(
    ("error", "attempt"),
    [(permanent("model endpoint answered 400: no"), 1), (transient("overloaded"), 3)],
    ids=["permanent", "attempts-exhausted"],
)
def test_a_final_failure_returns_no_text_and_the_reason(
    rig: Rig, error: Exception, attempt: int
) -> None:
    rig.model.syntheses.append(error)
    outcome = synthesize(rig.deps, planned_record(options=SYNTH), {0: res(0)}, attempt=attempt)
    assert outcome == Synthesis(text=None, usage=Usage(), error=str(error))
    assert not rig.store.retries and len(rig.model.synthesis_calls) == 1


# -- a synthesis schema -------------------------------------------------------------------

SUMMARY = {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]}
TYPED = JobOptions(synthesize=True, synthesis_schema=SUMMARY)


def test_a_typed_synthesis_is_parsed_into_data(rig: Rig) -> None:
    rig.model.syntheses.append(worker_reply('{"summary": "all good"}'))
    outcome = synthesize(rig.deps, planned_record(options=TYPED), {0: res(0)}, attempt=1)
    assert outcome.data == {"summary": "all good"} and outcome.error is None


def test_a_synthesis_off_its_schema_gets_one_repair_then_keeps_the_text_with_the_reason(
    rig: Rig,
) -> None:
    rig.model.syntheses.extend([worker_reply("[]"), worker_reply('{"summary": 3}')])
    outcome = synthesize(rig.deps, planned_record(options=TYPED), {0: res(0)}, attempt=1)
    assert outcome.text == '{"summary": 3}' and outcome.data is None
    assert outcome.error is not None and outcome.error.startswith(
        "synthesis_schema: the reply does not match: at /summary: 3 is not of type 'string'"
    )
    assert outcome.usage == WORKER_USAGE + WORKER_USAGE  # both calls on the record
    first, repair = rig.model.repairs
    assert first is None and repair is not None and repair.reply == "[]"


def test_the_record_keeps_the_synthesis_data() -> None:
    record = planned_record(1, options=TYPED)
    data = {"summary": "s"}
    final = records.finalized(
        record, {0: res(0)}, T0, Synthesis(text='{"summary": "s"}', usage=Usage(), data=data)
    )
    assert final.synthesis_data == data and final.synthesis == '{"summary": "s"}'


def test_the_synthesis_text_is_published_as_deltas_of_no_subtask(rig: Rig) -> None:
    record = planned_record(options=SYNTH)
    rig.model.syntheses.append(worker_reply("a combined answer in several pieces"))
    outcome = synthesize(rig.deps, record, {0: res(0)}, attempt=2)
    assert outcome.text == rig.events.delta_text(record.job_id, None)
    assert {attempt for attempt, _ in rig.events.deltas[(record.job_id, None)]} == {2}


def test_a_synthesis_stream_cut_midway_drops_its_text_and_asks_for_a_retry(rig: Rig) -> None:
    record = planned_record(options=SYNTH)
    rig.model.syntheses.append(CutStream("a combined ans", transient("stream cut")))
    with pytest.raises(RetryLater):
        synthesize(rig.deps, record, {0: res(0)}, attempt=1)
    assert rig.events.dropped[-1] == (record.job_id, None)
    assert rig.events.delta_text(record.job_id, None) == ""


def test_no_synthesis_deltas_when_streaming_deltas_is_off() -> None:
    rig = make_rig(stream_deltas=False)
    outcome = synthesize(rig.deps, planned_record(options=SYNTH), {0: res(0)}, attempt=1)
    assert outcome.text and rig.events.delta_writes == 0
