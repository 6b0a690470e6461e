"""Plan review's pure transitions: into `awaiting_review`, out of it by each answer, the
events they announce, planning spend counted once, and no subtask owed before approval."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chorus.contract.events import EventKind
from chorus.contract.models import JobRecord, JobRequest, JobStatus, Plan, Subtask, Usage
from chorus.core import records, review
from chorus.errors import InvalidTransition
from tests.support.factories import T0, running

SPENT = Usage(input_tokens=100, output_tokens=50, cost_usd=0.01)
LATER = T0 + timedelta(seconds=30)


def _plan(*types: str) -> Plan:
    subtasks = [Subtask(index=i, type=t, description=f"do {t}") for i, t in enumerate(types)]
    return Plan(analysis="the analysis", subtasks=subtasks)


def _planning(**options: object) -> JobRecord:
    request = JobRequest.model_validate({"task": "t", "options": {"review_plan": True, **options}})
    return records.new_record(
        request, "job-1", orchestrator_model="o", worker_model="w", simulated=True, now=T0
    )


def awaiting(**options: object) -> JobRecord:
    return review.with_plan_for_review(_planning(**options), _plan("a", "b"), SPENT, T0)


def test_a_plan_for_review_waits_with_its_spend_and_announces_itself() -> None:
    before = _planning(review_timeout_s=60)
    after = review.with_plan_for_review(before, _plan("a", "b"), SPENT, T0)
    assert after.status is JobStatus.AWAITING_REVIEW and not after.status.is_final
    assert after.plan == _plan("a", "b") and after.usage == SPENT
    assert after.review_requested_at == T0 and after.review is None
    kind, data = records.transition_event(before, after) or (None, {})
    assert kind is EventKind.AWAITING_REVIEW
    assert data == {
        "subtasks": 2,
        "types": ["a", "b"],
        "analysis": "the analysis",
        "review_timeout_s": 60,
    }
    # Counted on the ledger as the job leaves planning ...
    assert records.planning_spend(before, after) == SPENT
    # ... and owes no subtask until a person approves.
    assert records.owned_subtasks(after) is None


def test_only_a_planning_job_can_wait_for_review() -> None:
    with pytest.raises(InvalidTransition):
        review.with_plan_for_review(running(2), _plan("a"), SPENT, T0)


def test_an_approval_runs_the_stored_plan_and_counts_no_spend_again() -> None:
    before = awaiting()
    after = review.with_review(before, "approved", LATER)
    assert after.status is JobStatus.RUNNING and after.plan == before.plan
    assert after.review is not None and after.review.decision == "approved"
    assert after.review.at == LATER and after.usage == SPENT
    assert records.planning_spend(before, after) is None
    assert records.owned_subtasks(after) == [0, 1]
    kind, data = records.transition_event(before, after) or (None, {})
    assert kind is EventKind.PLANNED
    assert data == {"subtasks": 2, "types": ["a", "b"], "reviewed": "approved"}


def test_an_edit_runs_the_edited_plan() -> None:
    edited = _plan("x", "y", "z")
    after = review.with_review(awaiting(), "edited", LATER, plan=edited)
    assert after.status is JobStatus.RUNNING and after.plan == edited
    assert after.review is not None and after.review.decision == "edited"
    assert records.owned_subtasks(after) == [0, 1, 2]


def test_a_rejection_cancels_with_the_reason_and_owes_nothing() -> None:
    before = awaiting()
    after = review.with_review(before, "rejected", LATER, reason="too broad")
    assert after.status is JobStatus.CANCELLED and after.error == "plan rejected: too broad"
    assert after.finished_at == LATER
    assert after.review is not None and after.review.reason == "too broad"
    assert not records.awaits_results(after) and records.owned_subtasks(after) is None
    announced = records.transition_event(before, after)
    assert announced is not None and announced[0] is EventKind.CANCELLED
    assert records.planning_spend(before, after) is None
    plain = review.with_review(before, "rejected", LATER)
    assert plain.error == "plan rejected"


def test_a_timeout_fails_the_job_with_the_reason() -> None:
    before = awaiting(review_timeout_s=1)
    reason = review.timeout_reason(1)
    after = review.with_review(before, "timed_out", LATER, reason=reason)
    assert after.status is JobStatus.FAILED and after.error == reason
    assert reason == "review_timeout: the plan was not reviewed within 1s"
    assert after.review is not None and after.review.decision == "timed_out"
    announced = records.transition_event(before, after)
    assert announced is not None and announced[0] is EventKind.JOB_FINISHED
    assert not records.awaits_results(after)


@pytest.mark.parametrize("record", [running(2), _planning()])
def test_answering_a_job_not_awaiting_review_is_refused(record: JobRecord) -> None:
    with pytest.raises(InvalidTransition, match=f"job is {record.status.value}, not awaiting"):
        review.with_review(record, "approved", LATER)


def test_a_second_answer_is_refused() -> None:
    answered = review.with_review(awaiting(), "approved", LATER)
    with pytest.raises(InvalidTransition, match="job is running, not awaiting review"):
        review.with_review(answered, "rejected", LATER)


def test_an_approval_must_not_carry_a_plan_nor_an_edit_lack_one() -> None:
    with pytest.raises(ValueError):
        review.with_review(awaiting(), "approved", LATER, plan=_plan("a"))
    with pytest.raises(ValueError):
        review.with_review(awaiting(), "edited", LATER)


def test_a_job_awaiting_review_can_be_cancelled_and_then_owes_nothing() -> None:
    before = awaiting()
    after = records.with_cancellation(before, LATER)
    assert after.status is JobStatus.CANCELLED and after.plan == before.plan
    assert not records.awaits_results(after) and records.owned_subtasks(after) is None
    announced = records.transition_event(before, after)
    assert announced is not None and announced[0] is EventKind.CANCELLED


def test_a_cancelled_job_that_ran_still_awaits_its_subtasks_outcomes() -> None:
    ran = records.with_cancellation(review.with_review(awaiting(), "approved", LATER), LATER)
    assert records.awaits_results(ran) and records.owned_subtasks(ran) == [0, 1]


def test_the_review_expires_at_its_timeout_or_the_job_deadline() -> None:
    record = awaiting(review_timeout_s=10)
    assert review.review_expiry(record, T0 + timedelta(seconds=9.9)) is None
    assert review.review_expiry(record, T0 + timedelta(seconds=10)) == review.timeout_reason(10)
    # Measured from when the review began, whatever touched the record since.
    touched = record.model_copy(update={"updated_at": T0 + timedelta(hours=1)})
    assert review.review_expiry(touched, T0 + timedelta(seconds=11)) is not None
    late = awaiting(deadline_s=5)
    expired = review.review_expiry(late, T0 + timedelta(seconds=5))
    assert expired is not None and expired.startswith("deadline")
    assert review.review_expiry(awaiting(), T0 + timedelta(days=6)) is None
    assert review.review_expiry(running(1), T0 + timedelta(days=6)) is None
