"""Plan review in the orchestrator, on in-memory stand-ins: planning stops in
`awaiting_review` without dispatching; each answer (approve, edit, reject) is applied once;
an edited plan meets the model's rules; the Celery task sends an approved plan's chord once."""

from __future__ import annotations

from typing import Any

import pytest

from chorus.contract.actions import PlanReview
from chorus.contract.events import EventKind
from chorus.contract.models import JobStatus
from chorus.errors import InvalidRequest, InvalidTransition, JobNotFound
from chorus.orchestrator_service.planning import run_job
from chorus.orchestrator_service.review import review_plan, run_review_task
from tests.support.standins import PLAN_USAGE, Dispatch, Rig, make_rig

JOB = "job-1"


@pytest.fixture
def rig() -> Rig:
    return make_rig()


def submit(rig: Rig, dispatch: Dispatch | None = None, **options: Any) -> dict[str, Any]:
    body = {"task": "write a haiku", "job_id": JOB, "options": {"review_plan": True, **options}}
    return run_job(rig.deps, body, task_id=JOB, retries=0, dispatch=dispatch or Dispatch())


def answer(rig: Rig, **given: Any) -> Any:
    return review_plan(rig.store, JOB, PlanReview.model_validate(given), rig.clock())


def test_planning_under_review_stops_before_any_dispatch(rig: Rig) -> None:
    dispatch = Dispatch()
    assert submit(rig, dispatch) == {"job_id": JOB, "status": "awaiting_review"}
    record = rig.store.record(JOB)
    assert record.status is JobStatus.AWAITING_REVIEW and record.plan is not None
    assert dispatch.calls == [] and not rig.store.dispatched
    assert rig.events.kinds(JOB)[-1] is EventKind.AWAITING_REVIEW
    assert rig.store.control(JOB).spent_tokens == PLAN_USAGE.total_tokens
    # A redelivered run_job finds it waiting: no second plan, still no dispatch.
    assert submit(rig, dispatch)["status"] == "awaiting_review"
    assert len(rig.model.plan_calls) == 1 and dispatch.calls == []


def test_an_approval_then_a_run_job_dispatches_once(rig: Rig) -> None:
    submit(rig)
    record = answer(rig, approve=True)
    assert record.status is JobStatus.RUNNING
    assert rig.events.kinds(JOB)[-1] is EventKind.PLANNED
    dispatch = Dispatch()
    assert submit(rig, dispatch)["status"] == "running"
    assert submit(rig, dispatch)["status"] == "running"
    assert [r.job_id for r in dispatch.calls] == [JOB]
    # The planning spend was counted once, when the plan was stored.
    assert rig.store.control(JOB).spent_tokens == PLAN_USAGE.total_tokens


def test_an_edit_replaces_the_plan_keeping_the_models_analysis(rig: Rig) -> None:
    submit(rig)
    analysis = rig.store.record(JOB).plan.analysis  # type: ignore[union-attr]
    edited = [
        {"type": "angle-0", "description": "reworded"},
        {"type": "  fresh  angle ", "description": " added "},
    ]
    record = answer(rig, plan={"subtasks": edited})
    assert record.plan is not None and record.plan.analysis == analysis
    assert [(s.index, s.type, s.description) for s in record.plan.subtasks] == [
        (0, "angle-0", "reworded"),
        (1, "fresh angle", "added"),
    ]
    assert record.review is not None and record.review.decision == "edited"


@pytest.mark.parametrize(
    ("subtasks", "rule"),
    [
        ([{"type": "a", "description": "x"}, {"type": "A", "description": "y"}], "repeats"),
        ([{"type": f"t{i}", "description": "x"} for i in range(4)], "at most 3"),
        ([], "no subtasks"),
        ([{"type": "a", "description": "  "}], "empty description"),
    ],
)
def test_an_edited_plan_that_breaks_a_rule_is_refused_naming_it(
    rig: Rig, subtasks: list[dict[str, str]], rule: str
) -> None:
    submit(rig, max_subtasks=3)
    with pytest.raises(InvalidRequest, match=rule) as caught:
        answer(rig, plan={"subtasks": subtasks})
    assert caught.value.fields and caught.value.fields[0]["field"] == "plan"
    assert rig.store.record(JOB).status is JobStatus.AWAITING_REVIEW


def test_an_edited_plan_names_only_the_jobs_tiers(rig: Rig) -> None:
    rig.model.plans.append(_tiered_plan())
    submit(rig, tiers={"fast": "m-fast", "deep": "m-deep"})
    with pytest.raises(InvalidRequest, match="must be one of deep, fast"):
        answer(rig, plan={"subtasks": [{"type": "a", "description": "x", "tier": "huge"}]})
    ok = answer(rig, plan={"subtasks": [{"type": "a", "description": "x", "tier": "deep"}]})
    assert ok.plan is not None and ok.plan.subtasks[0].tier == "deep"


def _tiered_plan() -> Any:
    from chorus.contract.plans import plan_format
    from chorus.core.ports import PlanReply

    draft = plan_format({"fast": "m", "deep": "m"}).model_validate(
        {"analysis": "a", "subtasks": [{"type": "t", "description": "d", "tier": "fast"}]}
    )
    return PlanReply(draft=draft, usage=PLAN_USAGE)


def test_a_rejection_cancels_and_nothing_is_sent(rig: Rig) -> None:
    submit(rig)
    record = answer(rig, reject=True, reason="off topic")
    assert record.status is JobStatus.CANCELLED and record.error == "plan rejected: off topic"
    dispatch = Dispatch()
    assert submit(rig, dispatch)["status"] == "cancelled" and dispatch.calls == []


def test_a_second_answer_or_an_unknown_job_is_refused(rig: Rig) -> None:
    submit(rig)
    answer(rig, approve=True)
    with pytest.raises(InvalidTransition, match="job is running, not awaiting review"):
        answer(rig, reject=True)
    with pytest.raises(JobNotFound):
        review_plan(rig.store, "nope", PlanReview(approve=True), rig.clock())


def test_the_celery_task_answers_and_dispatches_once_even_redelivered(rig: Rig) -> None:
    submit(rig)
    dispatch = Dispatch()
    body = {"job_id": JOB, "approve": True}
    assert run_review_task(rig.deps, body, dispatch) == {"job_id": JOB, "status": "running"}
    assert run_review_task(rig.deps, body, dispatch) == {"job_id": JOB, "status": "running"}
    assert [r.job_id for r in dispatch.calls] == [JOB]
    # Another kind of answer to the approved job is a conflict, not a redelivery.
    late = run_review_task(rig.deps, {"job_id": JOB, "reject": True}, dispatch)
    assert late["status"] == "rejected" and late["error"] == "job is running, not awaiting review"


def test_the_celery_task_refuses_bad_messages_with_a_reason(rig: Rig) -> None:
    submit(rig)
    dispatch = Dispatch()
    both = run_review_task(rig.deps, {"job_id": JOB, "approve": True, "reject": True}, dispatch)
    assert both["status"] == "rejected" and "exactly one" in both["error"]
    assert run_review_task(rig.deps, {"approve": True}, dispatch)["error"] == "job_id: required"
    unknown = run_review_task(rig.deps, {"job_id": "nope", "approve": True}, dispatch)
    assert unknown["error"] == "no job 'nope'"
    rejected = run_review_task(rig.deps, {"job_id": JOB, "reject": True}, dispatch)
    assert rejected == {"job_id": JOB, "status": "cancelled"}
    again = run_review_task(rig.deps, {"job_id": JOB, "approve": True}, dispatch)
    assert again["error"] == "job is cancelled, not awaiting review"
    assert dispatch.calls == []
