"""Every branch of the reconciler's decision for a job with nothing in flight."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from chorus.contract.models import JobRecord, JobRequest, JobStatus
from chorus.core import records
from chorus.core.reconcile import Action, Decision, decide
from tests.support.factories import T0, result, running

LATER = T0 + timedelta(seconds=5)


def _decide(
    record: JobRecord | None, stored: frozenset[int] = frozenset(), rounds: int = 0
) -> Decision:
    return decide(record, stored, now=LATER, rounds=rounds, max_rounds=3)


def _planning(**options: object) -> JobRecord:
    request = JobRequest.model_validate({"task": "t", "options": options})
    return records.new_record(
        request, "job-1", orchestrator_model="o", worker_model="w", simulated=True, now=T0
    )


def _with_deadline(record: JobRecord, seconds: float) -> JobRecord:
    options = record.request.options.model_copy(update={"deadline_s": seconds})
    request = record.request.model_copy(update={"options": options})
    return record.model_copy(update={"request": request})


def test_a_gone_or_final_job_is_forgotten() -> None:
    assert _decide(None).action is Action.FORGET
    final = records.finalized(running(2), {0: result(0), 1: result(1)}, T0)
    assert _decide(final).action is Action.FORGET


def test_a_job_still_planning_is_sent_again_until_its_rounds_or_deadline_run_out() -> None:
    assert _decide(_planning()).action is Action.PLAN
    spent = _decide(_planning(), rounds=3)
    assert (
        spent.action is Action.FAIL and spent.reason == "planning never completed after 3 re-sends"
    )
    late = _decide(_planning(deadline_s=1))
    assert late.action is Action.FAIL and late.reason is not None
    assert late.reason.startswith("deadline")


def test_missing_subtasks_are_dispatched_again_and_only_those() -> None:
    decision = _decide(running(3), frozenset({1}))
    assert decision == Decision(Action.DISPATCH, (0, 2))


def test_every_result_in_means_gather() -> None:
    assert _decide(running(2), frozenset({0, 1})).action is Action.GATHER


def test_missing_results_past_the_deadline_or_the_rounds_finish_the_job_with_the_reason() -> None:
    late = _decide(_with_deadline(running(2), 1), frozenset({0}))
    assert late.action is Action.FINISH and late.indices == (1,)
    assert late.reason is not None and late.reason.startswith("deadline")
    spent = _decide(running(2), frozenset({0}), rounds=3)
    assert spent == Decision(Action.FINISH, (1,), "no result was stored after 3 re-dispatches")


def test_a_cancelled_job_awaiting_results_is_finished_not_rerun() -> None:
    cancelled = records.with_cancellation(running(2), T0)
    decision = _decide(cancelled, frozenset({0}))
    assert decision == Decision(Action.FINISH, (1,), records.CANCELLED_ERROR)
    assert cancelled.status is JobStatus.CANCELLED


# Found by mutation testing (docs/mutation.md): each test pins behaviour a mutant changed.


def test_a_decision_is_a_value_with_no_indices_or_reason_unless_given() -> None:
    decision = _decide(_planning())
    assert decision.indices == () and decision.reason is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.reason = "changed"  # type: ignore[misc]


def test_the_deadline_has_passed_at_the_very_instant_it_falls() -> None:
    exactly = _decide(_with_deadline(running(2), (LATER - T0).total_seconds()), frozenset({0}))
    assert exactly.action is Action.FINISH and exactly.indices == (1,)


def test_a_record_without_a_plan_is_planned_again_whatever_its_status() -> None:
    planless = running(2).model_copy(update={"plan": None})
    assert _decide(planless).action is Action.PLAN


def test_each_action_is_logged_by_its_lowercase_name() -> None:
    # The reconciler's warning names the action by its value.
    assert [action.value for action in Action] == [action.name.lower() for action in Action]
