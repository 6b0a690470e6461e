"""Redelivered tasks: a subtask already recorded is not sent to the model again, and the
gather step finalises a job only once."""

from __future__ import annotations

from chorus.contract import names
from chorus.contract.models import JobStatus, SubtaskAssignment
from tests.support.runner import JobRunner
from tests.support.simulator_control import SimulatorControl


def test_redelivered_subtask_returns_the_stored_result_without_a_model_call(
    jobs: JobRunner, sim: SimulatorControl
) -> None:
    record = jobs.run("Name good habits for code review.", options={"max_subtasks": 2})
    assert record.status is JobStatus.SUCCEEDED and record.plan
    calls_before = sim.stats()["requests_total"]

    first = record.plan.subtasks[0]
    again = SubtaskAssignment(
        job_id=record.job_id,
        task=record.request.task,
        context=record.request.context,
        subtask=first,
        model=record.worker_model,
        max_tokens=64,
    )
    reply = jobs.app.send_task(names.RUN_SUBTASK_TASK, kwargs=again.model_dump(mode="json")).get(
        timeout=30
    )

    stored = record.results[0]
    assert reply == {
        "job_id": record.job_id,
        "index": stored.index,
        "status": stored.status.value,
        "attempts": stored.attempts,
    }
    assert jobs.store.get_result(record.job_id, first.index) == stored  # unchanged
    assert sim.stats()["requests_total"] == calls_before


def test_gather_and_run_job_delivered_again_change_nothing(
    jobs: JobRunner, sim: SimulatorControl
) -> None:
    record = jobs.run("Draft a haiku about queues.", options={"max_subtasks": 2})
    calls_before = sim.stats()["requests_total"]

    gathered = jobs.app.send_task(
        names.GATHER_RESULTS_TASK, args=[[]], kwargs={"job_id": record.job_id}
    ).get(timeout=30)
    rerun = jobs.app.send_task(
        names.RUN_JOB_TASK, kwargs=record.request.model_dump(mode="json")
    ).get(timeout=30)

    # The gather step's result also tells Flower how the job ended (cost, failures, console).
    assert (gathered["job_id"], gathered["status"]) == (record.job_id, record.status.value)
    assert gathered["cost_usd"] == round(record.usage.cost_usd, 6)
    assert rerun == {"job_id": record.job_id, "status": record.status.value}
    assert jobs.store.get(record.job_id) == record
    assert sim.stats()["requests_total"] == calls_before
