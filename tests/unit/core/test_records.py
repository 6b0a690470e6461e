import dataclasses
import hashlib
from datetime import timedelta

import pytest
from pydantic import ValidationError

from chorus.contract.events import EventKind
from chorus.contract.models import (
    Budget,
    JobRecord,
    JobRequest,
    JobStatus,
    Plan,
    Subtask,
    SubtaskResult,
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
    planned = {"subtasks": 2, "types": ["t0", "t1"]}
    assert transition_event(planning, job) == (EventKind.PLANNED, planned)
    ended = T0 + timedelta(seconds=4)
    final = records.finalized(job, {0: result(0, tokens=7), 1: result(1, ok=False)}, ended)
    totals = {"subtasks_total": 2, "subtasks_failed": 1, "duration_s": 4.0}
    # The plan's 15 tokens plus the results' 7 + 7 and 1 + 1; the factories' cost nothing.
    spent = {"tokens": 31, "cost_usd": 0.0}
    assert transition_event(job, final) == (
        EventKind.JOB_FINISHED,
        {"status": "partial", **totals, **spent},
    )
    cancelled = records.with_cancellation(job, ended)
    assert transition_event(job, cancelled) == (
        EventKind.CANCELLED,
        {"status": "cancelled", "subtasks_total": 2, "subtasks_failed": 0, "tokens": 15,
         "cost_usd": 0.0, "duration_s": 4.0},
    )  # fmt: skip
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


# Found by mutation testing (docs/mutation.md): each test pins behaviour a mutant changed.


def test_a_missing_result_reads_as_never_recorded_and_never_attempted() -> None:
    final = records.finalized(running(2), {0: result(0)}, T0)
    assert final.results[1].error == "no result was recorded for this subtask"
    assert final.results[1].attempts == 0


def test_prompt_hashes_name_each_template_the_job_brings() -> None:
    templates = {"orchestrator": "plan {task}", "worker": "do {task}", "synthesis": "sum {task}"}
    request = JobRequest(task="t", options={"prompts": templates})
    expected = {kind: hashlib.sha256(text.encode()).hexdigest() for kind, text in templates.items()}
    assert records.prompt_hashes(request) == expected
    only_worker = JobRequest(task="t", options={"prompts": {"worker": "do {task}"}})
    assert records.prompt_hashes(only_worker) == {"worker": expected["worker"]}
    assert records.prompt_hashes(JobRequest(task="t")) == {}


def test_a_refused_transition_names_the_state_it_found() -> None:
    final = records.finalized(running(1), {0: result(0)}, T0)
    plan = Plan(analysis="a", subtasks=[Subtask(index=0, type="t", description="d")])
    with pytest.raises(InvalidTransition, match=r"^cannot store a plan on a succeeded job$"):
        records.with_plan(final, plan, Usage(), T0)
    with pytest.raises(InvalidTransition, match=r"^cannot add planning spend to a succeeded job$"):
        records.with_planning_spend(final, Usage(), T0)
    with pytest.raises(InvalidTransition, match=r"^job is already succeeded$"):
        records.with_cancellation(final, T0)
    with pytest.raises(InvalidTransition, match=r"^job is already succeeded$"):
        records.with_failure(final, "late", T0)
    with pytest.raises(InvalidTransition, match=r"^cannot finalise a succeeded job$"):
        records.finalized(final, {}, T0)


def test_every_transition_stamps_updated_at() -> None:
    later = T0 + timedelta(seconds=5)
    planning = records.new_record(
        JobRequest(task="t"), "j", orchestrator_model="o", worker_model="w",
        simulated=False, now=T0,
    )  # fmt: skip
    assert records.with_planning_spend(planning, Usage(), later).updated_at == later
    assert records.with_cancellation(running(1), later).updated_at == later
    assert records.with_failure(running(1), "x", later).updated_at == later
    assert records.finalized(running(1), {0: result(0)}, later).updated_at == later


def test_a_cancelled_job_says_it_was_cancelled_by_request() -> None:
    assert records.with_cancellation(running(1), T0).error == "cancelled by request"


def test_only_a_job_awaiting_results_owns_its_planned_subtasks() -> None:
    planning = records.new_record(
        JobRequest(task="t"), "j", orchestrator_model="o", worker_model="w",
        simulated=False, now=T0,
    )  # fmt: skip
    assert records.owned_subtasks(running(2)) == [0, 1]
    assert records.owned_subtasks(records.with_cancellation(running(2), T0)) == [0, 1]
    assert records.owned_subtasks(planning) is None
    assert records.owned_subtasks(records.finalized(running(2), {}, T0)) is None


def test_a_subtask_refusal_says_why_and_an_owned_subtask_has_none() -> None:
    final = records.finalized(running(1), {0: result(0)}, T0)
    assert records.subtask_refusal("j", 1, None, [0, 1]) is None
    assert records.subtask_refusal("j", 5, None, [0, 1]) == "job 'j' has no subtask 5"
    assert records.subtask_refusal("j", 0, None, None) == "no job 'j'"
    refusal = records.subtask_refusal("j", 0, final, None)
    assert refusal == "job 'j' is succeeded and takes no subtask results"


def test_the_budget_deadline_is_counted_from_the_job_creation() -> None:
    options = {"deadline_s": 30, "max_total_tokens": 500, "max_cost_usd": 2.5}
    record = records.new_record(
        JobRequest(task="t", options=options), "j",
        orchestrator_model="o", worker_model="w", simulated=False, now=T0,
    )  # fmt: skip
    budget = records.budget_of(record)
    assert budget == Budget(
        max_total_tokens=500, max_cost_usd=2.5, deadline_at=T0 + timedelta(seconds=30)
    )
    assert records.budget_of(running(1)) == Budget()


def test_a_synthesis_is_immutable_and_lands_whole_on_the_final_record() -> None:
    bare = records.Synthesis(text="s", usage=Usage())
    with pytest.raises(dataclasses.FrozenInstanceError):
        bare.text = "changed"  # type: ignore[misc]
    plain = records.finalized(running(1), {0: result(0)}, T0, bare)
    assert plain.synthesis_error is None and plain.synthesis_data is None
    full = records.Synthesis(text="s", usage=Usage(), error="e", data={"k": 1})
    final = records.finalized(running(1), {0: result(0)}, T0, full)
    assert (final.synthesis, final.synthesis_error, final.synthesis_data) == ("s", "e", {"k": 1})


def test_every_reason_a_job_was_cut_short_is_named_and_all_failed_says_so() -> None:
    def skipped(i: int, reason: str) -> SubtaskResult:
        update = {"status": SubtaskStatus.SKIPPED, "error": reason}
        return result(i, ok=False).model_copy(update=update)

    stopped = {0: result(0), 1: skipped(1, "deadline_exceeded"), 2: skipped(2, "budget_exceeded")}
    assert records.finalized(running(3), stopped, T0).error == "budget_exceeded; deadline_exceeded"
    failed = records.finalized(running(1), {0: result(0, ok=False)}, T0)
    assert failed.error == "every subtask failed; see each subtask's error"


def test_only_leaving_planning_for_running_announces_a_plan() -> None:
    planning = records.new_record(
        JobRequest(task="t"), "j", orchestrator_model="o", worker_model="w",
        simulated=False, now=T0,
    )  # fmt: skip
    failed = records.with_failure(planning, "no plan", T0)
    assert transition_event(planning, failed) == (
        EventKind.JOB_FINISHED,
        {"status": "failed", "subtasks_total": 0, "subtasks_failed": 0, "tokens": 0,
         "cost_usd": 0.0, "duration_s": 0.0},
    )  # fmt: skip
    assert transition_event(running(1), running(1)) is None


def test_a_budget_stops_at_its_limit_and_refuses_a_limit_of_nothing() -> None:
    assert Budget(max_cost_usd=1.0).exceeded(0, 1.0, T0) == "budget_exceeded"
    assert Budget(max_total_tokens=1).max_total_tokens == 1
    with pytest.raises(ValidationError):
        Budget(max_total_tokens=0)
    with pytest.raises(ValidationError):
        Budget(max_cost_usd=0)


# -- a planning call paid for after its job was cancelled ---------------------------------

PAID = Usage(input_tokens=40, output_tokens=8, cost_usd=0.002)


def _cancelled_while_planning() -> JobRecord:
    planning = records.new_record(
        JobRequest(task="t"), "job-1", orchestrator_model="o", worker_model="w",
        simulated=True, now=T0,
    )  # fmt: skip
    return records.with_cancellation(planning, T0)


def test_a_planning_call_paid_after_cancel_lands_on_the_record_and_the_ledger_once() -> None:
    cancelled = _cancelled_while_planning()
    later = T0 + timedelta(seconds=2)
    kept = records.with_cancelled_planning_spend(cancelled, PAID, cancelled.planning_usage, later)
    assert kept.status is JobStatus.CANCELLED and kept.plan is None
    assert kept.planning_usage == PAID == kept.usage and kept.updated_at == later
    assert records.planning_spend(cancelled, kept) == PAID
    assert transition_event(cancelled, kept) is None  # no second `cancelled` event
    # The same write retried finds its spend there already.
    with pytest.raises(InvalidTransition, match="already"):
        records.with_cancelled_planning_spend(kept, PAID, cancelled.planning_usage, later)


def test_only_a_job_cancelled_before_its_plan_takes_late_planning_spend() -> None:
    with pytest.raises(InvalidTransition):
        records.with_cancelled_planning_spend(running(2), PAID, Usage(), T0)
    after_plan = records.with_cancellation(running(2), T0)
    with pytest.raises(InvalidTransition):
        records.with_cancelled_planning_spend(after_plan, PAID, after_plan.planning_usage, T0)


def test_a_cancelled_record_that_did_not_change_brings_no_spend() -> None:
    cancelled = _cancelled_while_planning()
    assert records.planning_spend(cancelled, cancelled) is None
