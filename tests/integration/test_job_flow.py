"""The core flow with real processes: plan → chord of worker tasks → gathered record."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from chorus.contract.events import EventKind
from chorus.contract.models import JobRecord, JobStatus, SubtaskStatus
from chorus.core.pricing import cost_usd
from chorus.devstack.stack import LocalStack, wait_until
from chorus.settings import Settings
from tests.support.runner import JobRunner, runner_for
from tests.support.simulator_control import SimulatorControl

StackFactory = Callable[..., LocalStack]
PLANNING_CALL = "Plan at most"  # in the planning prompt only

SAMPLE_TASK = "Write a product description for a new eco-friendly water bottle."
SAMPLE_CONTEXT = {
    "target_audience": "environmentally conscious millennials",
    "key_features": ["plastic-free", "insulated", "lifetime warranty"],
}


def test_sample_job_runs_end_to_end_with_parallel_workers(
    jobs: JobRunner, sim: SimulatorControl
) -> None:
    record = jobs.run(SAMPLE_TASK, context=SAMPLE_CONTEXT, options={"max_subtasks": 5})

    assert record.status is JobStatus.SUCCEEDED, record.error
    stored = jobs.store._redis.get(f"chorus:job:{record.job_id}")
    assert stored is not None and JobRecord.model_validate_json(stored)
    assert record.plan is not None and record.plan.analysis
    planned = record.plan.subtasks
    assert 1 <= len(planned) <= 5
    assert [r.index for r in record.results] == [s.index for s in planned]
    assert [r.type for r in record.results] == [s.type for s in planned]
    for result in record.results:
        assert result.status is SubtaskStatus.SUCCEEDED
        assert result.output and result.output.strip()
        assert result.usage.output_tokens > 0
        assert result.started_at and result.finished_at >= result.started_at
    assert record.usage.input_tokens >= sum(r.usage.input_tokens for r in record.results)
    assert record.created_at <= record.finished_at  # type: ignore[operator]
    assert record.simulated
    # Parallel, not one after another: every worker call's window overlaps every other's.
    if len(record.results) > 1:
        starts = [r.started_at for r in record.results if r.started_at is not None]
        assert len(starts) == len(record.results)
        latest_start = max(starts)
        earliest_end = min(r.finished_at for r in record.results)
        assert latest_start < earliest_end
    assert sim.stats()["requests_total"] == 1 + len(planned)
    # Cost on record is tokens × the price table, per subtask and in total.
    prices = Settings().prices
    for r in record.results:
        assert r.usage.cost_usd == pytest.approx(cost_usd(r.usage, prices[record.worker_model]))
    planning = cost_usd(record.planning_usage, prices[record.orchestrator_model])
    expected = planning + sum(r.usage.cost_usd for r in record.results)
    assert record.usage.cost_usd == pytest.approx(expected) and expected > 0


def test_one_subtask_failing_for_good_leaves_a_partial_record(
    jobs: JobRunner, sim: SimulatorControl
) -> None:
    # The first worker call gets a permanent 400; the rest succeed.
    sim.set_faults([{"match": "<subtask>", "status": 400, "times": 1}])
    record = jobs.run("Compare three ways to brew coffee.", options={"max_subtasks": 3})

    assert record.status is JobStatus.PARTIAL
    failed = [r for r in record.results if r.status is SubtaskStatus.FAILED]
    succeeded = [r for r in record.results if r.status is SubtaskStatus.SUCCEEDED]
    assert len(failed) == 1 and len(succeeded) == len(record.results) - 1 >= 1
    assert "400" in (failed[0].error or "")
    assert failed[0].attempts == 1  # permanent: not retried
    assert all(r.output for r in succeeded)


def test_transient_errors_are_retried_and_attempts_recorded(
    jobs: JobRunner, sim: SimulatorControl
) -> None:
    sim.set_faults([{"match": "<subtask>", "status": 529, "times": 2}])
    record = jobs.run("List the trade-offs of remote work.", options={"max_subtasks": 3})

    assert record.status is JobStatus.SUCCEEDED, record.error
    assert sum(r.attempts for r in record.results) == len(record.results) + 2


def test_unparseable_plan_fails_the_job_with_the_reason(
    jobs: JobRunner, sim: SimulatorControl
) -> None:
    sim.set_faults([{"match": "Plan at most", "body": "Sure! Here are some ideas: ..."}])
    record = jobs.run("Summarise the history of tea.")

    assert record.status is JobStatus.FAILED
    assert record.error and "plan" in record.error and "schema" in record.error
    assert record.results == [] and record.finished_at is not None
    # One repair round: the planner was asked twice, no worker ever ran.
    assert sim.stats()["requests_total"] == 2


def test_braces_in_task_text_are_just_text(jobs: JobRunner) -> None:
    task = 'Explain {x} and f"{y}" in Python; also {{double}} and {0!r:>{width}}'
    record = jobs.run(task, context={"note": "{not_a_field}"})

    assert record.status is JobStatus.SUCCEEDED, record.error
    assert record.request.task == task
    assert record.request.context == {"note": "{not_a_field}"}
    assert all(r.output for r in record.results)


def test_synthesis_combines_the_outputs_when_asked(jobs: JobRunner, sim: SimulatorControl) -> None:
    record = jobs.run(
        "Pitch a reading app to teenagers.", options={"max_subtasks": 3, "synthesize": True}
    )

    assert record.status is JobStatus.SUCCEEDED, record.error
    assert record.synthesis and record.synthesis.strip()
    assert record.synthesis_usage.output_tokens > 0
    assert record.usage.output_tokens == (
        record.planning_usage.output_tokens
        + record.synthesis_usage.output_tokens
        + sum(r.usage.output_tokens for r in record.results)
    )
    assert sim.stats()["requests_total"] == 1 + len(record.results) + 1


def test_no_synthesis_unless_asked(jobs: JobRunner) -> None:
    record = jobs.run("Pitch a reading app to teenagers.", options={"max_subtasks": 2})
    assert record.synthesis is None and record.synthesis_error is None


def test_a_token_budget_cuts_the_job_short_with_the_reason(jobs: JobRunner) -> None:
    # Planning alone spends more than this, so no subtask may be sent to the model.
    record = jobs.run("Plan a city break.", options={"max_subtasks": 3, "max_total_tokens": 10})

    assert record.status is JobStatus.FAILED
    assert record.error and record.error.startswith("budget_exceeded")
    assert record.results and all(r.status is SubtaskStatus.SKIPPED for r in record.results)
    assert all(r.usage.total_tokens == 0 for r in record.results)


def test_a_deadline_cuts_the_job_short_with_the_reason(
    jobs: JobRunner, sim: SimulatorControl
) -> None:
    # The planning call alone (200 ms at the simulator) outlasts a 50 ms deadline.
    record = jobs.run("Plan a city break.", options={"max_subtasks": 2, "deadline_s": 0.05})

    assert record.status is JobStatus.FAILED
    assert record.error and record.error.startswith("deadline_exceeded")
    assert sim.stats()["requests_total"] == 1  # only the plan was asked for


def test_cancel_while_planning_makes_no_worker_calls(stack_factory: StackFactory) -> None:
    # A private stack whose every model call takes 2 s: the planning call is held at the
    # simulator for as long as the test needs to cancel under it.
    stack = stack_factory(workers=1, simulator_latency_ms=2000, simulator_plan_size=3)
    runner = runner_for(stack)
    sim = SimulatorControl(str(stack.simulator_url))
    job_id = runner.submit("Write three poems.", options={"max_subtasks": 3})
    wait_until(lambda: sim.stats()["in_flight"] == 1, timeout_s=30, what="the planning call")
    assert runner.store.get(job_id).status is JobStatus.PLANNING

    cancelled = runner.cancel(job_id)
    assert cancelled.status is JobStatus.CANCELLED
    assert runner.cancel(job_id) == cancelled  # idempotent
    # The plan arrives after the cancel; run_job's return value is logged when it ends.
    orchestrator = stack.process("orchestrator")
    ended = re.compile(rf"'job_id': '{re.escape(job_id)}', 'status': '(\w+)'")
    wait_until(lambda: bool(ended.search(orchestrator.log_text())), timeout_s=30, what="run_job")
    assert ended.findall(orchestrator.log_text()) == ["cancelled"]

    record = runner.store.get(job_id)
    assert record.status is JobStatus.CANCELLED and record.error == "cancelled by request"
    assert record.results == []
    stats = sim.stats()
    assert stats["requests_by_model"] == {runner.settings.orchestrator_model: 1}, stats
    assert [PLANNING_CALL in r["text"] for r in sim.requests()] == [True]
    assert "Task worker.run_subtask[" not in stack.process("worker1").log_text()  # none sent
    # The planning call was paid for: its tokens are on the record, exactly the simulator's.
    assert record.planning_usage == record.usage
    assert record.usage.input_tokens == stats["input_tokens"] > 0
    assert record.usage.output_tokens == stats["output_tokens"] > 0
    # Events as documented: the cancel announced once, and nothing planned, run or finished.
    events = runner.app.job_events.read(job_id, "0", block_ms=100)
    assert [e.kind for e in events] == [EventKind.CANCELLED], events


def test_cancel_while_running_skips_calls_not_yet_made(
    jobs: JobRunner, sim: SimulatorControl
) -> None:
    # Every worker call fails transiently at first, so the cancel lands before any retry.
    sim.set_faults([{"match": "<subtask>", "status": 529, "times": 100}])
    job_id = jobs.submit("Write three limericks.", options={"max_subtasks": 3})
    wait_until(
        lambda: jobs.store.get(job_id).status is not JobStatus.PLANNING,
        timeout_s=20,
        what="the plan",
    )
    subtasks = jobs.store.get(job_id).subtasks_total
    wait_until(
        lambda: sim.stats()["requests_total"] >= 1 + subtasks,
        timeout_s=20,
        what="every subtask's first attempt at the model",
    )
    jobs.cancel(job_id)
    calls_at_cancel = sim.stats()["requests_total"]

    # Cancelled at once; the subtasks' outcomes are attached once each retry has run.
    wait_until(lambda: bool(jobs.store.get(job_id).results), timeout_s=30, what="the outcomes")
    record = jobs.store.get(job_id)
    assert record.status is JobStatus.CANCELLED
    assert record.results and all(r.status is SubtaskStatus.SKIPPED for r in record.results)
    assert sim.stats()["requests_total"] <= calls_at_cancel + len(record.results)
