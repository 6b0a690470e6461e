"""Retrying what failed (`chorus.core.rerun`) and how a retried record ends (`records`)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chorus.contract import limits
from chorus.contract.actions import RetryOptions
from chorus.contract.events import EventKind
from chorus.contract.models import JobRecord, JobRequest, JobRun, JobStatus, SubtaskStatus, Usage
from chorus.core import records, rerun
from chorus.core.reconcile import Action, Decision, decide
from chorus.core.records import Synthesis
from chorus.errors import InvalidTransition
from tests.support.factories import T0, result, running

LATER = T0 + timedelta(minutes=5)


def planning() -> JobRecord:
    return records.new_record(
        JobRequest(task="t"), "j", orchestrator_model="o", worker_model="w",
        simulated=True, now=T0,
    )  # fmt: skip


def partial(n: int = 3, failed: tuple[int, ...] = (1,)) -> JobRecord:
    """A final job whose subtasks in `failed` failed for good."""
    stored = {i: result(i, ok=i not in failed) for i in range(n)}
    return records.finalized(running(n), stored, T0 + timedelta(seconds=3))


def test_a_retry_runs_the_failed_and_skipped_subtasks_as_run_two() -> None:
    skipped = result(2, ok=False).model_copy(update={"status": SubtaskStatus.SKIPPED})
    stored = {0: result(0), 1: result(1, ok=False), 2: skipped}
    before = records.finalized(running(3), stored, T0 + timedelta(seconds=3))

    after = rerun.with_retry(before, LATER, key="k1")

    assert after.status is JobStatus.RUNNING and after.results == []
    assert after.error is None and after.finished_at is None
    assert [r.index for r in after.earlier_results] == [1, 2]
    assert all(r.run == 1 for r in after.earlier_results)
    first, second = after.runs
    assert first == JobRun(run=1, started_at=before.created_at, finished_at=before.finished_at,
                           status=JobStatus.PARTIAL, subtasks=[0, 1, 2])  # fmt: skip
    assert second.run == 2 and second.subtasks == [1, 2] and second.idempotency_key == "k1"
    assert second.started_at == LATER and second.status is None
    assert records.awaits_results(after) and records.owned_subtasks(after) == [0, 1, 2]
    assert after.plan == before.plan


@pytest.mark.parametrize(
    ("arrange", "reason"),
    [
        (lambda: running(), "job is running; only a final job can be retried"),
        (lambda: partial(failed=()), "nothing to retry: every subtask succeeded"),
        (
            lambda: records.with_failure(planning(), "planning failed", T0),
            "the job failed before it had a plan; submit it again",
        ),
        (
            lambda: records.with_cancellation(running(), T0),
            "the job's subtask outcomes are not recorded yet; try again shortly",
        ),
    ],
)
def test_what_cannot_be_retried_says_why(arrange: object, reason: str) -> None:
    record = arrange()  # type: ignore[operator]
    with pytest.raises(InvalidTransition, match=f"^{reason}$".replace("(", r"\(")):
        rerun.with_retry(record, LATER)
    assert rerun.retry_refusal(record) == reason


def test_a_job_runs_at_most_max_job_runs_times() -> None:
    record = partial()
    for _ in range(limits.MAX_JOB_RUNS - 1):
        record = rerun.with_retry(record, LATER)
        record = records.finalized(record, {0: result(0), 1: result(1, ok=False),
                                            2: result(2)}, LATER)  # fmt: skip
    assert len(record.runs) == limits.MAX_JOB_RUNS
    with pytest.raises(InvalidTransition, match="most a job may"):
        rerun.with_retry(record, LATER)


def test_the_same_idempotency_key_names_its_run_and_changes_nothing() -> None:
    retried = rerun.with_retry(partial(), LATER, key="k1")
    assert rerun.run_with_key(retried, "k1") == retried.runs[-1]
    assert (
        rerun.run_with_key(retried, "other") is None and rerun.run_with_key(retried, None) is None
    )
    with pytest.raises(InvalidTransition, match="already started"):
        rerun.with_retry(retried, LATER, key="k1")


def test_the_final_record_counts_every_run_and_closes_the_current_one() -> None:
    retried = rerun.with_retry(partial(failed=(1, 2)), LATER)
    done_at = LATER + timedelta(seconds=4)
    # The succeeded result of run 1 stays stored; the retried ones come from run 2.
    stored = {0: result(0), 1: result(1, tokens=5).model_copy(update={"run": 2}),
              2: result(2, tokens=7).model_copy(update={"run": 2})}  # fmt: skip

    final = records.finalized(retried, stored, done_at)

    assert final.status is JobStatus.SUCCEEDED and final.error is None
    assert [r.run for r in final.results] == [1, 2, 2]
    planning = Usage(input_tokens=10, output_tokens=5)
    # Planning + run 1's three results (two failed, still paid) + run 2's two.
    expected = (
        planning + Usage(input_tokens=3, output_tokens=3) + Usage(input_tokens=12, output_tokens=12)
    )
    assert final.usage == expected
    assert final.runs[-1].finished_at == done_at and final.runs[-1].status is JobStatus.SUCCEEDED
    assert final.runs[0].status is JobStatus.PARTIAL


def test_a_rerun_synthesis_replaces_the_answer_but_both_calls_stay_on_the_bill() -> None:
    first_call, second_call = Usage(input_tokens=100), Usage(input_tokens=200)
    stored = {0: result(0), 1: result(1, ok=False)}
    first = records.finalized(running(2), stored, T0, Synthesis("one", first_call))
    retried = rerun.with_retry(first, LATER)
    final = records.finalized(
        retried, {0: result(0), 1: result(1)}, LATER, Synthesis("two", second_call)
    )
    assert final.synthesis == "two" and final.synthesis_usage == second_call
    assert [r.synthesis_usage for r in final.runs] == [first_call, second_call]
    spent = sum((r.usage for r in [*final.results, *final.earlier_results]), Usage())
    assert final.usage == final.planning_usage + spent + first_call + second_call


def test_a_never_retried_record_keeps_no_runs() -> None:
    assert partial().runs == []


def test_a_retry_raises_limits_and_restarts_the_deadline() -> None:
    request = running().request
    limited = request.model_copy(update={"options": request.options.model_copy(
        update={"max_cost_usd": 0.01, "max_total_tokens": 100, "deadline_s": 30})})  # fmt: skip
    before = partial().model_copy(update={"request": limited})
    assert records.budget_of(before).deadline_at == before.created_at + timedelta(seconds=30)

    raised = rerun.with_retry(before, LATER, RetryOptions(max_cost_usd=1.0))
    budget = records.budget_of(raised)
    assert budget.max_cost_usd == 1.0 and budget.max_total_tokens == 100
    assert budget.deadline_at == LATER + timedelta(seconds=30)

    later = rerun.with_retry(before, LATER, RetryOptions(deadline_s=5, max_total_tokens=900))
    assert records.budget_of(later).deadline_at == LATER + timedelta(seconds=5)
    assert records.budget_of(later).max_total_tokens == 900


def test_a_retry_is_announced_with_its_run_and_subtasks() -> None:
    before = partial(failed=(0, 2))
    after = rerun.with_retry(before, LATER)
    assert records.transition_event(before, after) == (
        EventKind.RETRIED,
        {"run": 2, "subtasks": [0, 2]},
    )
    final = records.finalized(after, {0: result(0), 1: result(1), 2: result(2)}, LATER)
    kind, _ = records.transition_event(after, final) or (None, None)
    assert kind is EventKind.JOB_FINISHED


def test_the_reconciler_drives_a_retried_run_by_its_own_deadline() -> None:
    request = running().request
    limited = request.model_copy(
        update={"options": request.options.model_copy(update={"deadline_s": 30})}
    )
    retried = rerun.with_retry(
        partial(failed=(1, 2)).model_copy(update={"request": limited}), LATER
    )
    # Run 1's deadline is long gone; the retry's runs from its start.
    decision = decide(retried, {0}, now=LATER + timedelta(seconds=10), rounds=0, max_rounds=3)
    assert decision == Decision(Action.DISPATCH, (1, 2))
    late = decide(retried, {0}, now=LATER + timedelta(seconds=31), rounds=0, max_rounds=3)
    assert late.action is Action.FINISH and late.indices == (1, 2)
    assert decide(retried, {0, 1, 2}, now=LATER, rounds=0, max_rounds=3).action is Action.GATHER
