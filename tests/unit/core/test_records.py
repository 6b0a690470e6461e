from datetime import timedelta

import pytest

from chorus.contract.events import EventKind
from chorus.contract.models import (
    JobRequest,
    JobStatus,
    Plan,
    Subtask,
    SubtaskStatus,
    Usage,
)
from chorus.core import records
from chorus.core.records import transition_event
from chorus.errors import InvalidTransition
from tests.support.factories import T0, result, running


def test_new_record_is_planning_and_carries_the_job_id() -> None:
    record = records.new_record(
        JobRequest(task="t"), "j", orchestrator_model="o", worker_model="w",
        simulated=False, now=T0,
    )  # fmt: skip
    assert record.status is JobStatus.PLANNING and record.request.job_id == "j"


def test_all_succeeded_is_succeeded_in_plan_order_with_usage_totals() -> None:
    later = T0 + timedelta(seconds=2)
    final = records.finalized(running(), {2: result(2), 0: result(0), 1: result(1)}, later)
    assert final.status is JobStatus.SUCCEEDED
    assert [r.index for r in final.results] == [0, 1, 2]
    assert final.usage == Usage(input_tokens=13, output_tokens=8)
    assert final.finished_at == later and final.error is None


def test_some_failed_is_partial_all_failed_is_failed() -> None:
    partial = records.finalized(running(2), {0: result(0), 1: result(1, ok=False)}, T0)
    failed = records.finalized(running(2), {0: result(0, False), 1: result(1, False)}, T0)
    assert partial.status is JobStatus.PARTIAL
    assert failed.status is JobStatus.FAILED and failed.error


def test_a_missing_result_is_failed_not_dropped() -> None:
    final = records.finalized(running(2), {0: result(0)}, T0)
    assert len(final.results) == 2
    assert final.results[1].error == records.MISSING_RESULT_ERROR
    assert final.status is JobStatus.PARTIAL
    assert records.missing_indices(running(2), {0: result(0)}) == [1]


def test_a_final_record_cannot_change_again() -> None:
    final = records.finalized(running(1), {0: result(0)}, T0)
    with pytest.raises(InvalidTransition):
        records.finalized(final, {0: result(0)}, T0)
    with pytest.raises(InvalidTransition):
        records.with_failure(final, "late", T0)
    with pytest.raises(InvalidTransition):
        records.with_plan(final, Plan(analysis="a", subtasks=[final.plan.subtasks[0]]), Usage(), T0)  # type: ignore[union-attr]


def test_planning_failure_ends_failed_with_reason() -> None:
    record = records.new_record(
        JobRequest(task="t"), "j", orchestrator_model="o", worker_model="w",
        simulated=False, now=T0,
    )  # fmt: skip
    failed = records.with_failure(record, "planning failed: nope", T0, Usage(input_tokens=3))
    assert failed.status is JobStatus.FAILED and failed.error == "planning failed: nope"
    assert failed.usage.input_tokens == 3 and failed.finished_at == T0


def test_budget_reasons_and_skipped_subtasks_name_the_cause() -> None:
    from chorus.contract.models import Budget

    budget = Budget(max_total_tokens=100, max_cost_usd=1.0, deadline_at=T0)
    assert budget.exceeded(0, 0, T0 - timedelta(seconds=1)) is None
    assert Budget(deadline_at=T0).exceeded(0, 0, T0) == "deadline_exceeded"
    assert Budget(max_total_tokens=100).exceeded(100, 0, T0) == "budget_exceeded"
    assert Budget(max_cost_usd=1.0).exceeded(0, 1.5, T0) == "budget_exceeded"
    assert Budget(max_total_tokens=100).exceeded(99, 0, T0) is None

    skipped = result(1, ok=False).model_copy(
        update={"status": SubtaskStatus.SKIPPED, "error": "budget_exceeded: limit reached"}
    )
    final = records.finalized(running(2), {0: result(0), 1: skipped}, T0)
    assert final.status is JobStatus.PARTIAL
    assert final.error == "budget_exceeded: limit reached"


def test_cancellation_is_final_and_keeps_outcomes_attached_once() -> None:
    cancelled = records.with_cancellation(running(2), T0 + timedelta(seconds=1))
    assert cancelled.status is JobStatus.CANCELLED and cancelled.error == records.CANCELLED_ERROR
    assert records.awaits_results(cancelled)
    with pytest.raises(InvalidTransition):
        records.with_cancellation(cancelled, T0)

    skipped = result(1, ok=False).model_copy(
        update={"status": SubtaskStatus.SKIPPED, "error": records.CANCELLED_ERROR}
    )
    final = records.finalized(cancelled, {0: result(0), 1: skipped}, T0 + timedelta(seconds=9))
    assert final.status is JobStatus.CANCELLED and len(final.results) == 2
    assert final.finished_at == T0 + timedelta(seconds=1)
    assert not records.awaits_results(final)


def test_each_transition_announces_its_event_once() -> None:
    planning = records.new_record(
        JobRequest(task="t"), "job-1", orchestrator_model="o", worker_model="w",
        simulated=True, now=T0,
    )  # fmt: skip
    job = running(2)
    assert transition_event(planning, job) == (EventKind.PLANNED, {"subtasks": 2})
    final = records.finalized(job, {0: result(0), 1: result(1, ok=False)}, T0)
    assert transition_event(job, final) == (EventKind.JOB_FINISHED, {"status": "partial"})
    cancelled = records.with_cancellation(job, T0)
    assert transition_event(job, cancelled) == (EventKind.CANCELLED, {"status": "cancelled"})
    assert transition_event(final, final) is None  # a repeat announces nothing


def test_planning_spend_counts_once_when_the_job_leaves_planning() -> None:
    planning = records.new_record(
        JobRequest(task="t"), "job-1", orchestrator_model="o", worker_model="w",
        simulated=True, now=T0,
    )  # fmt: skip
    job = running(1)  # planned with 10 input + 5 output tokens
    assert records.planning_spend(planning, job) == job.planning_usage
    assert records.planning_spend(job, records.finalized(job, {0: result(0)}, T0)) is None
    failed = records.with_failure(planning, "no plan", T0, Usage(input_tokens=3))
    assert records.planning_spend(planning, failed) == Usage(input_tokens=3)
    assert records.planning_spend(planning, records.with_failure(planning, "x", T0)) is None


def test_spend_kept_while_planning_adds_up_and_is_counted_when_planning_ends() -> None:
    planning = records.new_record(
        JobRequest(task="t"), "job-1", orchestrator_model="o", worker_model="w",
        simulated=True, now=T0,
    )  # fmt: skip
    kept = records.with_planning_spend(planning, Usage(input_tokens=7), T0)
    assert kept.status is JobStatus.PLANNING and kept.planning_usage == Usage(input_tokens=7)
    assert records.planning_spend(planning, kept) is None  # not yet: still planning
    plan = Plan(analysis="a", subtasks=[Subtask(index=0, type="t", description="d")])
    planned = records.with_plan(kept, plan, Usage(input_tokens=3), T0)
    assert planned.planning_usage == planned.usage == Usage(input_tokens=10)
    assert records.planning_spend(kept, planned) == Usage(input_tokens=10)
    failed = records.with_failure(kept, "no plan", T0, Usage(output_tokens=2))
    assert failed.planning_usage == Usage(input_tokens=7, output_tokens=2)
    with pytest.raises(InvalidTransition):
        records.with_planning_spend(planned, Usage(input_tokens=1), T0)
