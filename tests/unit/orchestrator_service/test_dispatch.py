"""What each worker is sent: everything it needs, the job's worker template included."""

from __future__ import annotations

from chorus.contract.models import JobOptions
from chorus.contract.templates import PromptTemplates
from chorus.orchestrator_service.dispatch import assignments
from tests.support.standins import make_settings, planned_record


def test_assignments_carry_the_worker_template_and_its_variables() -> None:
    options = JobOptions(
        max_subtasks=4, worker_max_tokens=77, prompts=PromptTemplates(worker="Style: {task_type}")
    )
    record = planned_record(2, options=options, context={"tone": "dry"})
    sent = assignments(make_settings(), record)
    assert [a.subtask.index for a in sent] == [0, 1]
    for assignment in sent:
        assert assignment.worker_template == "Style: {task_type}"
        assert assignment.max_subtasks == 4 and assignment.max_tokens == 77
        assert assignment.context == {"tone": "dry"} and assignment.model == "worker-model"


def test_without_templates_workers_get_the_built_in_prompt() -> None:
    (assignment,) = assignments(make_settings(), planned_record(1))
    assert assignment.worker_template is None


def test_each_subtask_runs_on_its_tiers_model() -> None:
    tiers = {"fast": "claude-haiku-5-5", "strong": "claude-sonnet-5-5"}
    record = planned_record(3, options=JobOptions(tiers=tiers))
    assert record.plan is not None
    subtasks = [
        s.model_copy(update={"tier": t})
        for s, t in zip(record.plan.subtasks, ["fast", "strong", None], strict=True)
    ]
    record = record.model_copy(
        update={"plan": record.plan.model_copy(update={"subtasks": subtasks})}
    )
    models = [a.model for a in assignments(make_settings(), record)]
    assert models == ["claude-haiku-5-5", "claude-sonnet-5-5", "worker-model"]


def test_assignments_carry_the_jobs_tenant_for_the_spend_counters() -> None:
    record = planned_record(2)
    record = record.model_copy(
        update={"request": record.request.model_copy(update={"tenant": "bob"})}
    )
    assert [a.tenant for a in assignments(make_settings(), record)] == ["bob", "bob"]
    assert [a.tenant for a in assignments(make_settings(), planned_record(1))] == [None]
