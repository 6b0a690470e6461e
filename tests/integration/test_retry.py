"""Retrying what failed, with real processes: `POST /v1/jobs/{id}/retry`, the Celery task
`orchestrator.retry_job` and `chorus retry` run the failed subtasks again with the stored plan,
and the succeeded ones' model calls are not made again."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chorus.client.http import Client
from chorus.contract import names
from chorus.contract.events import EventKind
from chorus.contract.models import JobRecord, JobStatus, SubtaskStatus, Usage
from chorus.devstack.stack import LocalStack
from chorus.errors import ApiError, InvalidRequest, JobNotFound
from tests.integration.test_cli import run_cli
from tests.integration.test_http_api import ALICE, BOB, Api
from tests.support.api_server import start_api
from tests.support.runner import JobRunner
from tests.support.simulator_control import SimulatorControl


@pytest.fixture(scope="module")
def api(chorus_stack: LocalStack, workdir: Path) -> Iterator[Api]:
    env = {**chorus_stack.env, "CHORUS_API_TOKENS": f"alice:{ALICE},bob:{BOB}"}
    proc, url = start_api(env, workdir / "api-retry.log")
    yield Api(url)
    proc.stop()


FAIL_TWO_FOR_GOOD = [{"match": "<subtask>", "status": 400, "times": 2}]  # permanent: no retry
SYNTHESIS_CALL = "<worker_outputs>"


def failed_job(api: Api, sim: SimulatorControl, **options: Any) -> JobRecord:
    """A job of 3-4 subtasks, two of them failed for good; the fault then cleared."""
    sim.set_faults(FAIL_TWO_FOR_GOOD)
    status, _, body = api.call(
        "POST", "/v1/jobs", {"task": "Explain tides.", "options": {"max_subtasks": 4, **options}}
    )
    assert status == 202, body
    record = api.wait(body["job_id"])
    failed = [r for r in record.results if r.status is SubtaskStatus.FAILED]
    assert record.status is JobStatus.PARTIAL and len(failed) == 2, record.results
    sim.set_faults([])
    return record


def stream_order(event_id: str) -> tuple[int, int]:
    millis, _, seq = event_id.partition("-")
    return int(millis), int(seq)


def calls_by_description(sim: SimulatorControl, record: JobRecord) -> Counter[int]:
    """Worker calls the simulator answered, per subtask index (its description is unique)."""
    assert record.plan is not None
    counts: Counter[int] = Counter()
    for request in sim.requests():
        for subtask in record.plan.subtasks:
            if "<subtask>" in request["text"] and subtask.description in request["text"]:
                counts[subtask.index] += 1
    return counts


def test_two_subtasks_failing_for_good_succeed_on_retry_and_the_others_run_once(
    api: Api, sim: SimulatorControl
) -> None:
    before = failed_job(api, sim)
    failed = [r.index for r in before.results if r.status is SubtaskStatus.FAILED]
    succeeded = [r for r in before.results if r.status is SubtaskStatus.SUCCEEDED]

    status, headers, body = api.call("POST", f"/v1/jobs/{before.job_id}/retry")
    assert status == 202, body
    assert headers["location"] == f"/v1/jobs/{before.job_id}"
    assert body["status"] == "running" and body["runs"][-1]["subtasks"] == failed
    after = api.wait(before.job_id)

    assert after.status is JobStatus.SUCCEEDED and after.error is None
    # The succeeded subtasks' results are the very ones run 1 stored, not made again.
    assert [r for r in after.results if r.index not in failed] == succeeded
    assert all(r.run == 2 and r.status is SubtaskStatus.SUCCEEDED
               for r in after.results if r.index in failed)  # fmt: skip
    counts = calls_by_description(sim, after)
    assert all(counts[r.index] == 1 for r in succeeded), counts
    assert all(counts[i] == 2 for i in failed), counts  # the failed call, then the retry
    assert sum("Plan at most" in r["text"] for r in sim.requests()) == 1  # the plan is kept
    # Each run's attempts are on the record, and the usage is every paid call's.
    assert [r.index for r in after.earlier_results] == failed
    assert all(r.run == 1 and r.status is SubtaskStatus.FAILED for r in after.earlier_results)
    paid = sum((r.usage for r in [*after.results, *after.earlier_results]), Usage())
    assert after.usage == after.planning_usage + paid
    assert [(r.run, r.status) for r in after.runs] == [
        (1, JobStatus.PARTIAL), (2, JobStatus.SUCCEEDED)
    ]  # fmt: skip
    assert after.runs[1].finished_at == after.finished_at


def test_what_cannot_be_retried_is_refused_with_the_reason(api: Api, sim: SimulatorControl) -> None:
    assert api.call("POST", "/v1/jobs/no-such-job/retry")[0] == 404
    sim.set_faults([{"match": "<subtask>", "trickle_s": 0.01}])  # subtasks take seconds
    status, _, body = api.call("POST", "/v1/jobs", {"task": "Plan a picnic.",
                                                    "options": {"max_subtasks": 2}})  # fmt: skip
    job_id = body["job_id"]
    status, _, body = api.call("POST", f"/v1/jobs/{job_id}/retry")
    assert status == 409 and "only a final job can be retried" in body["error"], body
    assert api.call("POST", f"/v1/jobs/{job_id}/retry", token=BOB)[0] == 404  # not Bob's
    sim.set_faults([])
    assert api.wait(job_id).status is JobStatus.SUCCEEDED
    status, _, body = api.call("POST", f"/v1/jobs/{job_id}/retry", {"options": {}})
    assert (status, body) == (409, {"error": "nothing to retry: every subtask succeeded"})
    status, _, body = api.call("POST", f"/v1/jobs/{job_id}/retry",
                               {"options": {"max_cost_usd": -1}})  # fmt: skip
    assert status == 422 and body["fields"][0]["field"] == "options.max_cost_usd", body


def test_retries_sent_at_once_run_once(api: Api, sim: SimulatorControl) -> None:
    before = failed_job(api, sim)
    answers: list[tuple[int, Any]] = []

    def post(key: str | None) -> None:
        headers = {"Idempotency-Key": key} if key else {}
        status, _, body = api.call("POST", f"/v1/jobs/{before.job_id}/retry", headers=headers)
        answers.append((status, body))

    threads = [threading.Thread(target=post, args=("same-key",)) for _ in range(4)]
    threads += [threading.Thread(target=post, args=(None,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    after = api.wait(before.job_id)

    assert after.status is JobStatus.SUCCEEDED and len(after.runs) == 2
    # One retry started; the same key answered with its run, the rest were refused.
    accepted = [body for status, body in answers if status == 202]
    assert accepted and all(b["runs"][-1]["run"] == 2 for b in accepted), answers
    assert all(status in (202, 409) for status, _ in answers), answers
    counts = calls_by_description(sim, after)
    assert sorted(counts.values()) == sorted([2, 2] + [1] * (len(after.results) - 2)), counts
    status, _, body = api.call(
        "POST", f"/v1/jobs/{before.job_id}/retry", headers={"Idempotency-Key": "same-key"}
    )
    assert status == 202 and len(body["runs"]) == 2  # still that run, now over


def test_a_retry_runs_the_synthesis_again_and_bills_both(api: Api, sim: SimulatorControl) -> None:
    before = failed_job(api, sim, synthesize=True)
    assert before.synthesis and before.synthesis_usage.total_tokens

    status, _, _ = api.call(
        "POST", f"/v1/jobs/{before.job_id}/retry", {"options": {"max_cost_usd": 5}}
    )
    assert status == 202
    after = api.wait(before.job_id)

    assert after.status is JobStatus.SUCCEEDED and after.synthesis
    assert sum(SYNTHESIS_CALL in r["text"] for r in sim.requests()) == 2
    assert after.runs[0].synthesis_usage == before.synthesis_usage
    assert after.runs[1].synthesis_usage == after.synthesis_usage
    assert after.runs[1].budget is not None and after.runs[1].budget.max_cost_usd == 5
    paid = sum((r.usage for r in [*after.results, *after.earlier_results]), Usage())
    assert after.usage == (
        after.planning_usage + paid + before.synthesis_usage + after.synthesis_usage
    )


def test_a_celery_client_retries_by_sending_the_task(
    jobs: JobRunner, sim: SimulatorControl
) -> None:
    sim.set_faults(FAIL_TWO_FOR_GOOD)
    before = jobs.run("Compare three ways to brew coffee.", options={"max_subtasks": 3})
    assert before.status in (JobStatus.PARTIAL, JobStatus.FAILED)
    sim.set_faults([])

    reply = jobs.app.send_task(names.RETRY_JOB_TASK, kwargs={"job_id": before.job_id})
    assert reply.get(timeout=30) == {"job_id": before.job_id, "status": "running", "run": 2}
    after = jobs.wait(before.job_id)

    assert after.status is JobStatus.SUCCEEDED and len(after.runs) == 2
    [retried] = jobs.events(before.job_id, EventKind.RETRIED)
    first, second = jobs.events(before.job_id, EventKind.JOB_FINISHED)  # one per run
    assert stream_order(first.id) < stream_order(retried.id) < stream_order(second.id)
    assert retried.data["run"] == 2 and retried.data["subtasks"] == after.runs[1].subtasks
    again = jobs.app.send_task(names.RETRY_JOB_TASK, kwargs={"job_id": before.job_id})
    assert again.get(timeout=30)["error"] == "nothing to retry: every subtask succeeded"


def test_chorus_retry_follows_the_retry_to_the_end(
    chorus_stack: LocalStack, jobs: JobRunner, sim: SimulatorControl
) -> None:
    sim.set_faults(FAIL_TWO_FOR_GOOD)
    before = jobs.run("Explain tides.", options={"max_subtasks": 3})
    sim.set_faults([])

    done = run_cli(chorus_stack, "retry", before.job_id, "--max-total-tokens", "100000",
                   "--follow", "--json")  # fmt: skip

    assert done.returncode == 0, done.stderr
    after = JobRecord.model_validate_json(done.stdout)
    assert after.status is JobStatus.SUCCEEDED and len(after.runs) == 2
    assert after.runs[1].budget is not None and after.runs[1].budget.max_total_tokens == 100000
    refused = run_cli(chorus_stack, "retry", before.job_id)
    assert refused.returncode == 1 and "nothing to retry" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_the_python_client_retries_and_waits_for_the_new_run(
    api: Api, sim: SimulatorControl
) -> None:
    before = failed_job(api, sim)
    with Client(api.url, token=ALICE) as client:
        with pytest.raises(InvalidRequest, match="max_cost_usd"):
            client.retry(before.job_id, options={"max_cost_usd": 0})  # refused before sending
        running = client.retry(before.job_id, idempotency_key="client-key")
        assert running.status is JobStatus.RUNNING and running.runs[-1].run == 2
        assert client.retry(before.job_id, idempotency_key="client-key").runs == running.runs
        # `wait` reads on past run 1's `job_finished` while the record says running.
        after = client.wait(before.job_id, timeout_s=60)
        assert after.status is JobStatus.SUCCEEDED and len(after.runs) == 2
        with pytest.raises(ApiError, match="nothing to retry") as refused:
            client.retry(before.job_id)
        assert refused.value.status == 409
        with pytest.raises(JobNotFound):
            client.retry("no-such-job")
