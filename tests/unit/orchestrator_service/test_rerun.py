"""`orchestrator.retry_job`'s logic on in-memory stand-ins: the transition once, then the new
run's subtasks sent once, only those with no result, each run's results marked with its run."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from chorus.contract.models import JobOptions, JobRecord, JobStatus, SubtaskStatus
from chorus.core import records
from chorus.orchestrator_service.dispatch import assignments
from chorus.orchestrator_service.gathering import gather
from chorus.orchestrator_service.rerun import retry_job
from chorus.worker_service.execution import execute
from tests.support.standins import Rig, make_rig, permanent, planned_record

JOB = "job-1"


class Sent:
    def __init__(self) -> None:
        self.calls: list[tuple[JobRecord, list[int]]] = []

    def __call__(self, record: JobRecord, only: Collection[int]) -> None:
        self.calls.append((record, list(only)))


def run_subtasks(rig: Rig, record: JobRecord, only: Collection[int] | None = None) -> None:
    for assignment in assignments(rig.settings, record, only):
        execute(rig.deps, assignment.model_dump(mode="json"))


def finish(rig: Rig) -> JobRecord:
    return gather(rig.deps, JOB, retries=0, task_id="gather-1")


def failed_job(rig: Rig, options: JobOptions | None = None) -> JobRecord:
    """Three subtasks, the 2nd and 3rd failing for good."""
    record = rig.store.put(planned_record(3, options=options))
    rig.model.subtasks.extend([permanent(), permanent()])
    run_subtasks(rig, record, [1, 2])
    run_subtasks(rig, record, [0])
    return finish(rig)


def retry(rig: Rig, sent: Sent, **payload: Any) -> dict[str, Any]:
    return retry_job(rig.deps, {"job_id": JOB, **payload}, retries=0, dispatch=sent)


def test_a_retry_reruns_only_what_failed_and_ends_succeeded() -> None:
    rig, sent = make_rig(), Sent()
    assert failed_job(rig).status is JobStatus.PARTIAL
    calls_before = len(rig.model.subtask_calls)

    answer = retry(rig, sent)

    assert answer == {"job_id": JOB, "status": "running", "run": 2}
    [(record, only)] = sent.calls
    assert only == [1, 2]
    run_subtasks(rig, record, only)
    final = finish(rig)
    assert final.status is JobStatus.SUCCEEDED
    assert [r.run for r in final.results] == [1, 2, 2]
    assert [r.index for r in final.earlier_results] == [1, 2]
    assert all(r.status is SubtaskStatus.FAILED for r in final.earlier_results)
    # Only the two retried subtasks called the model again.
    assert [a.subtask.index for a in rig.model.subtask_calls[calls_before:]] == [1, 2]
    assert [(r.run, r.status) for r in final.runs] == [
        (1, JobStatus.PARTIAL), (2, JobStatus.SUCCEEDED)
    ]  # fmt: skip


def test_a_second_message_for_the_same_run_sends_nothing() -> None:
    rig, sent = make_rig(), Sent()
    failed_job(rig)
    retry(rig, sent, idempotency_key="k")
    assert retry(rig, sent, idempotency_key="k")["run"] == 2
    assert retry(rig, sent)["run"] == 2  # running its retry: the one dispatch stands
    assert len(sent.calls) == 1
    assert len(rig.store.record(JOB).runs) == 2


def test_a_job_that_cannot_be_retried_is_rejected_with_the_reason() -> None:
    rig, sent = make_rig(), Sent()
    rig.store.put(planned_record(2))
    answer = retry(rig, sent)
    assert answer["status"] == "rejected"
    assert answer["error"] == "job is running; only a final job can be retried"
    assert retry(rig, sent, job_id="nope")["error"] == "no job 'nope'"
    assert retry(rig, sent, job_id="bad id!")["status"] == "rejected"
    assert sent.calls == []


def test_a_retry_with_a_raised_budget_hands_it_to_the_workers() -> None:
    rig, sent = make_rig(), Sent()
    failed_job(rig, JobOptions(max_cost_usd=0.5))
    retry(rig, sent, options={"max_cost_usd": 2.0})
    [(record, only)] = sent.calls
    [first, *_] = assignments(rig.settings, record, only)
    assert first.budget.max_cost_usd == 2.0 and first.run == 2
    assert records.budget_of(record).max_cost_usd == 2.0
