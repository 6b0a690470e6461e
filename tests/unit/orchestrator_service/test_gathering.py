"""The gather step (`orchestrator.gather_results`), branch by branch, on in-memory stand-ins."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chorus.contract.events import EventKind
from chorus.contract.models import (
    JobOptions,
    JobRecord,
    JobStatus,
    SubtaskResult,
    SubtaskStatus,
    Usage,
)
from chorus.core import records, retry
from chorus.errors import JobNotFound, RetryLater
from chorus.orchestrator_service.dispatch import assignments
from chorus.orchestrator_service.gathering import gather
from chorus.orchestrator_service.planning import run_job
from chorus.worker_service.execution import execute
from tests.support.factories import T0, result
from tests.support.standins import (
    PLAN_USAGE,
    STRAGGLER_WAIT_S,
    SYNTHESIS_USAGE,
    WORKER_USAGE,
    Rig,
    make_rig,
    permanent,
    planned_record,
    transient,
)

JOB = "job-1"
SYNTH = JobOptions(synthesize=True)


@pytest.fixture
def rig() -> Rig:
    return make_rig()


def arrange(rig: Rig, record: JobRecord, *results: SubtaskResult) -> None:
    rig.store.put(record)
    for item in results:
        rig.store.save_result(JOB, item)
    rig.events.emitted.clear()


def skipped(i: int, reason: str) -> SubtaskResult:
    return result(i, ok=False).model_copy(update={"status": SubtaskStatus.SKIPPED, "error": reason})


def first_retries_past_the_straggler_wait() -> int:
    return next(n for n in range(100) if retry.gather_waited_s(n) >= STRAGGLER_WAIT_S)


def test_the_standin_settings_give_the_documented_straggler_wait(rig: Rig) -> None:
    assert retry.straggler_wait_s(rig.settings) == STRAGGLER_WAIT_S
    assert first_retries_past_the_straggler_wait() == 5  # waited 1+2+4+8+15 = 30 s


# -- every result in ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcomes", "status", "error"),
    [
        ([True, True, True], JobStatus.SUCCEEDED, None),
        ([True, False, True], JobStatus.PARTIAL, None),
        ([False, False, False], JobStatus.FAILED, "every subtask failed; see each subtask's error"),
    ],
)
def test_all_results_in_finalise_the_job_in_plan_order(
    rig: Rig, outcomes: list[bool], status: JobStatus, error: str | None
) -> None:
    stored = [result(i, ok) for i, ok in enumerate(outcomes)]
    arrange(rig, planned_record(3), *reversed(stored))
    rig.clock.advance(7)
    final = gather(rig.deps, JOB, retries=0, task_id="g1")
    assert final == rig.store.record(JOB)
    assert final.status is status and final.error == error
    assert final.results == stored  # plan order, though recorded in reverse
    assert final.usage == PLAN_USAGE + Usage(input_tokens=3, output_tokens=3)
    assert final.finished_at == T0 + timedelta(seconds=7) == final.updated_at
    assert final.synthesis is None and final.synthesis_error is None
    assert rig.events.kinds() == [EventKind.JOB_FINISHED]
    data = rig.events.emitted[0].data
    assert data["status"] == status.value
    assert (data["tokens"], data["cost_usd"]) == (final.usage.total_tokens, final.usage.cost_usd)
    assert data["subtasks_total"] == final.subtasks_total
    assert data["subtasks_failed"] == final.subtasks_failed
    assert rig.model.calls == 0 and rig.store.claim_calls == []


def test_a_skipped_subtask_puts_its_reason_on_the_record(rig: Rig) -> None:
    stop = "budget_exceeded: the job's limit was reached before this subtask could run"
    arrange(rig, planned_record(2), result(0), skipped(1, stop))
    final = gather(rig.deps, JOB, retries=0, task_id="g1")
    assert final.status is JobStatus.PARTIAL and final.error == stop


def test_a_second_trigger_changes_nothing(rig: Rig) -> None:
    arrange(rig, planned_record(2), result(0), result(1))
    first = gather(rig.deps, JOB, retries=0, task_id="g1")
    rig.clock.advance(60)
    rig.store.save_result(JOB, result(5))  # a late duplicate write changes no record
    second = gather(rig.deps, JOB, retries=0, task_id="g2")
    assert second == first == rig.store.record(JOB)
    assert rig.events.kinds().count(EventKind.JOB_FINISHED) == 1


@pytest.mark.parametrize(
    "final",
    [
        records.with_failure(planned_record(2), "internal error: RuntimeError", T0),
        records.finalized(planned_record(2), {0: result(0), 1: result(1)}, T0),
        records.finalized(records.with_cancellation(planned_record(2), T0), {}, T0),
    ],
    ids=["failed-after-dispatch", "finalised", "cancelled-with-outcomes"],
)
def test_a_job_not_awaiting_results_is_returned_as_it_is(rig: Rig, final: JobRecord) -> None:
    arrange(rig, final, result(0))
    assert gather(rig.deps, JOB, retries=0, task_id="g1") == final
    assert rig.store.record(JOB) == final and rig.events.emitted == []


def test_an_unknown_job_is_not_found(rig: Rig) -> None:
    with pytest.raises(JobNotFound) as caught:
        gather(rig.deps, "nope", retries=0, task_id="g1")
    assert caught.value.job_id == "nope"


# -- missing results ----------------------------------------------------------------------


@pytest.mark.parametrize(("retries", "countdown"), [(0, 1), (1, 2), (2, 4), (3, 8), (4, 15)])
def test_missing_results_are_rechecked_on_the_schedule(
    rig: Rig, retries: int, countdown: float
) -> None:
    arrange(rig, planned_record(3), result(0))
    with pytest.raises(RetryLater) as caught:
        gather(rig.deps, JOB, retries=retries, task_id="g1")
    assert caught.value.countdown == countdown
    assert caught.value.reason == "subtasks [1, 2] missing"
    assert rig.store.record(JOB).status is JobStatus.RUNNING
    assert rig.events.emitted == [] and not rig.store.retries


def test_after_the_straggler_wait_missing_results_are_failed_and_the_job_finalised(
    rig: Rig,
) -> None:
    arrange(rig, planned_record(3), result(2))
    final = gather(rig.deps, JOB, retries=5, task_id="g1")
    assert final.status is JobStatus.PARTIAL
    assert [r.index for r in final.results] == [0, 1, 2]
    for missing in final.results[:2]:
        assert missing.status is SubtaskStatus.FAILED and missing.attempts == 0
        assert missing.error == records.MISSING_RESULT_ERROR
    assert final.results[2] == result(2)
    assert rig.events.kinds() == [EventKind.JOB_FINISHED]


def test_with_nothing_recorded_the_job_fails_once_the_wait_is_over(rig: Rig) -> None:
    arrange(rig, planned_record(2))
    final = gather(rig.deps, JOB, retries=5, task_id="g1")
    assert final.status is JobStatus.FAILED
    assert final.error == "every subtask failed; see each subtask's error"


@pytest.mark.parametrize(("retries", "finalised"), [(3, False), (4, True)])
def test_the_wait_ends_when_the_rechecks_reach_the_straggler_wait(
    retries: int, finalised: bool
) -> None:
    # 1*3 + 4*2 + 2 + 2*1 = 15 s, exactly what four rechecks wait (1+2+4+8).
    rig = make_rig(model_timeout_s=1, stream_timeout_s=1)
    assert retry.straggler_wait_s(rig.settings) == 15 == retry.gather_waited_s(4)
    arrange(rig, planned_record(2), result(0))
    if finalised:
        assert gather(rig.deps, JOB, retries=retries, task_id="g1").status is JobStatus.PARTIAL
    else:
        with pytest.raises(RetryLater):
            gather(rig.deps, JOB, retries=retries, task_id="g1")


# -- synthesis ----------------------------------------------------------------------------


def test_a_wanted_synthesis_is_claimed_once_and_stored(rig: Rig) -> None:
    arrange(rig, planned_record(2, options=SYNTH), result(0), result(1, ok=False))
    final = gather(rig.deps, JOB, retries=0, task_id="g1")
    assert rig.store.claim_calls == [(JOB, "g1", STRAGGLER_WAIT_S)]
    assert rig.store.claimant(JOB) == "g1"
    [call] = rig.model.synthesis_calls
    assert call.outputs == [{"type": "t0", "output": "out"}]
    assert final.status is JobStatus.PARTIAL
    assert final.synthesis == "out" and final.synthesis_error is None
    assert final.synthesis_usage == SYNTHESIS_USAGE
    assert final.usage == PLAN_USAGE + Usage(input_tokens=2, output_tokens=2) + SYNTHESIS_USAGE


def test_no_claim_and_no_call_when_synthesis_is_not_wanted(rig: Rig) -> None:
    arrange(rig, planned_record(2, options=SYNTH), result(0, ok=False), result(1, ok=False))
    final = gather(rig.deps, JOB, retries=0, task_id="g1")
    assert final.status is JobStatus.FAILED and final.synthesis is None
    assert rig.store.claim_calls == [] and rig.model.calls == 0


def test_a_synthesis_claim_held_by_another_gather_asks_for_a_retry(rig: Rig) -> None:
    arrange(rig, planned_record(2, options=SYNTH), result(0), result(1))
    assert rig.store.claim_gather(JOB, "g-other", ttl_s=STRAGGLER_WAIT_S)
    with pytest.raises(RetryLater) as caught:
        gather(rig.deps, JOB, retries=0, task_id="g1")
    assert caught.value.countdown == retry.SYNTHESIS_CLAIM_BUSY_S == 15
    assert caught.value.reason == "another gather holds the synthesis"
    assert rig.model.calls == 0 and rig.store.record(JOB).status is JobStatus.RUNNING

    # The holder finishes the job; the waiting gather then finds nothing left to do.
    final = gather(rig.deps, JOB, retries=0, task_id="g-other")
    assert gather(rig.deps, JOB, retries=1, task_id="g1") == final
    assert len(rig.model.synthesis_calls) == 1


def test_the_claimant_redelivered_after_a_synthesis_retry_carries_on(rig: Rig) -> None:
    arrange(rig, planned_record(2, options=SYNTH), result(0), result(1))
    rig.model.syntheses.append(transient("overloaded"))
    with pytest.raises(RetryLater) as caught:
        gather(rig.deps, JOB, retries=0, task_id="g1")
    assert caught.value.reason == "overloaded" and rig.store.retries == {"synthesis": 1}
    assert rig.store.record(JOB).status is JobStatus.RUNNING
    final = gather(rig.deps, JOB, retries=1, task_id="g1")
    assert final.status is JobStatus.SUCCEEDED and final.synthesis == "out | out"
    assert len(rig.model.synthesis_calls) == 2


def test_a_failed_synthesis_leaves_the_results_and_says_why(rig: Rig) -> None:
    arrange(rig, planned_record(2, options=SYNTH), result(0), result(1))
    rig.model.syntheses.append(permanent("model endpoint answered 400: too long"))
    final = gather(rig.deps, JOB, retries=0, task_id="g1")
    assert final.status is JobStatus.SUCCEEDED and final.synthesis is None
    assert final.synthesis_error == "model endpoint answered 400: too long"
    assert final.synthesis_usage == Usage()


# -- cancelled jobs -----------------------------------------------------------------------


def test_a_cancelled_job_gets_its_outcomes_attached_and_stays_cancelled(rig: Rig) -> None:
    rig.store.put(planned_record(2, options=SYNTH))
    rig.clock.advance(5)
    rig.store.cancel(JOB)
    cancelled_at = rig.clock()
    rig.store.save_result(JOB, result(0))
    rig.store.save_result(JOB, skipped(1, records.CANCELLED_ERROR))
    rig.clock.advance(30)
    final = gather(rig.deps, JOB, retries=0, task_id="g1")
    assert final.status is JobStatus.CANCELLED and final.error == records.CANCELLED_ERROR
    assert [r.index for r in final.results] == [0, 1]
    assert final.results[1].status is SubtaskStatus.SKIPPED
    assert final.finished_at == cancelled_at
    assert final.usage == PLAN_USAGE + Usage(input_tokens=2, output_tokens=2)
    assert rig.model.calls == 0 and rig.store.claim_calls == []  # no synthesis once cancelled
    assert EventKind.JOB_FINISHED not in rig.events.kinds()
    assert rig.events.kinds().count(EventKind.CANCELLED) == 1


# -- the whole job, in memory -------------------------------------------------------------


def test_plan_fan_out_and_gather_end_to_end(rig: Rig) -> None:
    sent: list[JobRecord] = []
    run_job(
        rig.deps, {"task": "write a haiku", "job_id": JOB, "options": {"synthesize": True}},
        task_id="t1", retries=0, dispatch=sent.append,
    )  # fmt: skip
    [record] = sent
    work = assignments(rig.settings, record)
    assert [a.subtask.index for a in work] == [0, 1]
    assert {a.model for a in work} == {"worker-model"} and {a.max_tokens for a in work} == {500}
    for item in work:
        execute(rig.deps, item.model_dump(mode="json"), node="w1")
    final = gather(rig.deps, JOB, retries=0, task_id="g1")
    assert final.status is JobStatus.SUCCEEDED
    assert final.synthesis == "angle-0: done | angle-1: done"
    assert final.usage == PLAN_USAGE + WORKER_USAGE + WORKER_USAGE + SYNTHESIS_USAGE
    assert rig.events.kinds() == [
        EventKind.PLANNED,
        EventKind.SUBTASK_STARTED,
        EventKind.SUBTASK_FINISHED,
        EventKind.SUBTASK_STARTED,
        EventKind.SUBTASK_FINISHED,
        EventKind.JOB_FINISHED,
    ]


# -- a job always ends ---------------------------------------------------------------------


def test_an_unexpected_synthesis_error_still_finalises_the_job(rig: Rig) -> None:
    arrange(rig, planned_record(2, options=SYNTH), result(0), result(1))
    rig.model.syntheses.append(ValueError("a bug"))
    final = gather(rig.deps, JOB, retries=0, task_id="g1")
    assert final.status is JobStatus.SUCCEEDED
    assert final.synthesis_error == "internal error: ValueError"


@pytest.mark.parametrize(("retries", "countdown"), [(0, 1.0), (3, 8.0), (9, 15.0)])
def test_a_store_error_in_gather_asks_for_a_retry(rig: Rig, retries: int, countdown: float) -> None:
    arrange(rig, planned_record(2), result(0), result(1))
    rig.store.fail_next("results", ConnectionError("redis went away"))
    with pytest.raises(RetryLater) as caught:
        gather(rig.deps, JOB, retries=retries, task_id="g1")
    assert caught.value.countdown == countdown  # the recheck schedule, for as long as it takes
    assert caught.value.reason == "internal error: ConnectionError"
    final = gather(rig.deps, JOB, retries=retries + 1, task_id="g1")
    assert final.status is JobStatus.SUCCEEDED


def test_synthesis_attempts_travel_with_the_gather_retries(rig: Rig) -> None:
    arrange(rig, planned_record(2, options=SYNTH), result(0), result(1))
    rig.model.syntheses.append(transient("overloaded"))
    with pytest.raises(RetryLater) as caught:
        gather(rig.deps, JOB, retries=0, task_id="g1", synthesis_attempts=1)
    assert caught.value.kwargs == {"job_id": JOB, "synthesis_attempts": 2}
    rig.model.syntheses.append(transient("overloaded"))
    final = gather(rig.deps, JOB, retries=1, task_id="g1", synthesis_attempts=2)  # the last
    assert final.status is JobStatus.SUCCEEDED and final.synthesis_error == "overloaded"


def test_synthesis_after_a_straggler_wait_still_gets_its_retries(rig: Rig) -> None:
    arrange(rig, planned_record(2, options=SYNTH), result(0))
    rig.model.syntheses.append(transient("overloaded"))
    with pytest.raises(RetryLater):
        gather(rig.deps, JOB, retries=first_retries_past_the_straggler_wait(), task_id="g1")
