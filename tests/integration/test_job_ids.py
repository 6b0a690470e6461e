"""One job per job id, whatever the door, with real processes: duplicate `run_job` messages
(in turn and at once), subtask messages for jobs that do not own them, over-long ids at every
door, and another tenant's id through the HTTP API."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from chorus.client.broker import submit_job
from chorus.client.http import Client
from chorus.contract import names
from chorus.contract.events import EventKind
from chorus.contract.models import JobStatus, Plan, Subtask, SubtaskAssignment, Usage
from chorus.core import records
from chorus.core.submission import build_request, initial_record
from chorus.devstack.stack import LocalStack, ManagedProcess, wait_until
from chorus.errors import InvalidRequest
from chorus.settings import Settings
from tests.support.api_server import run_cli, start_api
from tests.support.runner import JobRunner
from tests.support.simulator_control import SimulatorControl

ALICE = "alice-token-job-ids-0123"
BOB = "bob-token-job-ids-012345"
LONG = "x" * 5000
RULE = "job_id must be 1-128 letters, digits or _.:- characters"
WAIT_S = 60


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def run_job(jobs: JobRunner, kwargs: dict[str, Any], task_id: str | None = None) -> Any:
    """Send `orchestrator.run_job` as a bare Celery client does; returns its AsyncResult."""
    return jobs.app.send_task(
        names.RUN_JOB_TASK, kwargs=kwargs, task_id=task_id or str(uuid.uuid4())
    )


def run_subtask(jobs: JobRunner, job_id: str, index: int) -> dict[str, Any]:
    message = SubtaskAssignment(
        job_id=job_id,
        task="write a haiku",
        subtask=Subtask(index=index, type=f"t{index}", description=f"part {index} of {job_id}"),
        model="claude-haiku-5-5",
        max_tokens=64,
    ).model_dump(mode="json")
    reply: dict[str, Any] = jobs.app.send_task(names.RUN_SUBTASK_TASK, kwargs=message).get(
        timeout=WAIT_S
    )
    return reply


def calls_naming(sim: SimulatorControl, text: str, model: str) -> list[str]:
    return [r["text"] for r in sim.requests() if r["model"] == model and text in r["text"]]


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


# -- duplicate run_job messages -----------------------------------------------------------


def test_the_same_job_id_again_is_a_no_op_and_a_different_request_is_rejected(
    jobs: JobRunner, sim: SimulatorControl, chorus_stack: LocalStack
) -> None:
    job_id = unique("dup")
    kwargs = {"task": f"Name two queue patterns ({job_id})", "options": {"max_subtasks": 2}}
    run_job(jobs, kwargs, task_id=job_id)
    record = jobs.wait(job_id, timeout_s=WAIT_S)
    assert record.status is JobStatus.SUCCEEDED
    calls = sim.stats()["requests_total"]

    again = run_job(jobs, {**kwargs, "job_id": job_id}).get(timeout=WAIT_S)
    assert again == {"job_id": job_id, "status": "succeeded"}

    other = {**kwargs, "job_id": job_id, "task": "Something else entirely"}
    rejected = run_job(jobs, other).get(timeout=WAIT_S)
    reason = f"job_id {job_id!r} already names a different job"
    assert rejected == {"job_id": job_id, "status": "rejected", "error": reason}

    assert jobs.store.get(job_id) == record and sim.stats()["requests_total"] == calls
    orchestrator = chorus_stack.process("orchestrator")
    wait_until(lambda: reason in orchestrator.log_text(), timeout_s=10, what="the warning")
    [line] = [x for x in orchestrator.log_text().splitlines() if reason in x]
    assert "WARNING" in line


def test_two_run_job_messages_at_once_plan_once_and_dispatch_once(
    jobs: JobRunner, sim: SimulatorControl, chorus_stack: LocalStack, redis_client: redis.Redis
) -> None:
    job_id = unique("twin")
    task = f"Compare two retry strategies ({job_id})"
    kwargs = {"task": task, "options": {"max_subtasks": 2}, "job_id": job_id}
    # As two bare clients would: one under the job id as task id, one under its own.
    first, second = run_job(jobs, kwargs, task_id=job_id), run_job(jobs, kwargs)
    record = jobs.wait(job_id, timeout_s=WAIT_S)
    replies = [first.get(timeout=WAIT_S), second.get(timeout=WAIT_S)]

    assert record.status is JobStatus.SUCCEEDED and record.plan is not None
    assert all(r["job_id"] == job_id and r["status"] in ("running", "succeeded") for r in replies)
    assert len(calls_naming(sim, task, record.orchestrator_model)) == 1  # planned once
    worker_calls = calls_naming(sim, task, record.worker_model)
    assert len(worker_calls) == record.subtasks_total == len(record.results)
    for subtask in record.plan.subtasks:  # each subtask called once: dispatched once
        assert sum(subtask.description in text for text in worker_calls) == 1
    assert len(jobs.events(job_id, EventKind.PLANNED)) == 1
    assert len(jobs.events(job_id, EventKind.SUBTASK_STARTED)) == record.subtasks_total
    # The claim names the delivery, not the task id: two messages under one task id differ.
    holder = redis_client.get(names.job_planning_claim_key(job_id))
    assert holder and holder not in (first.id, second.id)
    # They did meet: one waited for the other's plan rather than plan it again.
    waited = f"planning {job_id}: another delivery holds the claim"
    orchestrator = chorus_stack.process("orchestrator")
    wait_until(lambda: waited in orchestrator.log_text(), timeout_s=10, what="the wait")


# -- subtask messages a job does not own ----------------------------------------------------


def test_a_subtask_for_no_such_job_calls_nothing_and_leaves_no_key(
    jobs: JobRunner, sim: SimulatorControl, redis_client: redis.Redis
) -> None:
    ghost = unique("ghost")
    reply = run_subtask(jobs, ghost, 0)
    assert reply == {"job_id": ghost, "status": "rejected", "error": f"no job {ghost!r}"}
    assert sim.stats()["requests_total"] == 0
    assert redis_client.keys(f"*{ghost}*") == []


def test_a_running_job_runs_only_its_own_subtasks_with_or_without_the_control_field(
    jobs: JobRunner, sim: SimulatorControl, settings: Settings, redis_client: redis.Redis
) -> None:
    # A running job whose chord was never sent, so only these messages run its subtasks.
    job_id = unique("owned")
    request = build_request({"task": f"Own two parts ({job_id})", "job_id": job_id})
    jobs.store.create(initial_record(request, settings))
    plan = Plan(
        analysis="a", subtasks=[Subtask(index=i, type=f"t{i}", description="d") for i in (0, 1)]
    )
    jobs.store.update(job_id, lambda r: records.with_plan(r, plan, Usage(), records.utc_now()))
    control = names.job_control_key(job_id)
    try:
        assert redis_client.hget(control, "subtasks") == "0,1"
        assert run_subtask(jobs, job_id, 5)["error"] == f"job {job_id!r} has no subtask 5"
        assert run_subtask(jobs, job_id, 0)["status"] == "succeeded"
        # A job planned before the field existed: the record decides.
        redis_client.hdel(control, "subtasks")
        assert run_subtask(jobs, job_id, 7)["error"] == f"job {job_id!r} has no subtask 7"
        assert run_subtask(jobs, job_id, 1)["status"] == "succeeded"
        assert sim.stats()["requests_total"] == 2
        assert set(jobs.store.results(job_id)) == {0, 1}
    finally:
        jobs.cancel(job_id)


# -- over-long job ids --------------------------------------------------------------------


def test_a_5000_character_job_id_is_refused_by_every_task(
    jobs: JobRunner, sim: SimulatorControl, redis_client: redis.Redis
) -> None:
    by_kwarg = run_job(jobs, {"task": "t", "job_id": LONG}).get(timeout=WAIT_S)
    by_task_id = run_job(jobs, {"task": "t"}, task_id=LONG).get(timeout=WAIT_S)
    subtask = {**_assignment(), "job_id": LONG}
    worker = jobs.app.send_task(names.RUN_SUBTASK_TASK, kwargs=subtask).get(timeout=WAIT_S)
    gather = jobs.app.send_task(names.GATHER_RESULTS_TASK, args=[[]], kwargs={"job_id": LONG}).get(
        timeout=WAIT_S
    )

    assert by_kwarg["status"] == "rejected" and RULE in by_kwarg["error"]
    assert by_task_id["status"] == "rejected" and by_task_id["job_id"] is None
    assert by_task_id["error"] == f"job_id (the task id): {RULE}"
    assert worker["status"] == "rejected" and RULE in worker["error"]
    assert gather == {"job_id": None, "status": "rejected", "error": RULE}
    for reply in (by_kwarg, worker):
        assert reply["job_id"] is None  # never echoed
    assert sim.stats()["requests_total"] == 0
    assert redis_client.keys(f"chorus:*{'x' * 200}*") == []


def _assignment() -> dict[str, Any]:
    return SubtaskAssignment(
        job_id="placeholder",
        task="t",
        subtask=Subtask(index=0, type="a", description="d"),
        model="m",
        max_tokens=1,
    ).model_dump(mode="json")


def test_a_5000_character_job_id_is_refused_by_the_cli_and_the_broker_client(
    chorus_stack: LocalStack, settings: Settings
) -> None:
    for command in ("status", "result", "cancel"):
        done = run_cli(chorus_stack.env, command, LONG)
        assert done.returncode == 2, done.stderr
        assert RULE in done.stderr and LONG not in done.stderr
    with pytest.raises(InvalidRequest, match="job_id must be 1-128"):
        submit_job("t", job_id=LONG, settings=settings)


# -- the HTTP API ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api_url(chorus_stack: LocalStack, workdir: Path) -> Iterator[str]:
    env = {**chorus_stack.env, "CHORUS_API_TOKENS": f"alice:{ALICE},bob:{BOB}"}
    proc: ManagedProcess
    proc, url = start_api(env, workdir / "api-job-ids.log")
    yield url
    proc.stop()


def call(url: str, method: str, path: str, token: str, body: Any = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"}
    return httpx.request(method, url + path, json=body, headers=headers, timeout=30)


def test_a_5000_character_job_id_is_refused_by_the_api_and_the_python_client(
    api_url: str,
) -> None:
    posted = call(api_url, "POST", "/v1/jobs", ALICE, {"task": "t", "job_id": LONG})
    assert posted.status_code == 422 and posted.json()["error"] == f"job_id: {RULE}"
    for path in (f"/v1/jobs/{LONG}", f"/v1/jobs/{LONG}/events"):
        answer = call(api_url, "GET", path, ALICE)
        assert answer.status_code == 422 and "at most 128 characters" in answer.json()["error"]
    assert call(api_url, "POST", f"/v1/jobs/{LONG}/cancel", ALICE).status_code == 422
    with Client(api_url, ALICE) as client:
        with pytest.raises(InvalidRequest, match="job_id must be 1-128"):
            client.submit("t", job_id=LONG)
        with pytest.raises(InvalidRequest, match="over 128 characters"):
            client.get(LONG)


def test_another_tenants_job_id_is_free_for_the_caller(api_url: str) -> None:
    chosen = unique("shared-name")
    alices = call(api_url, "POST", "/v1/jobs", ALICE, {"task": "Alice's", "job_id": chosen})
    bobs = call(api_url, "POST", "/v1/jobs", BOB, {"task": "Bob's", "job_id": chosen})
    assert alices.status_code == bobs.status_code == 202
    alice_id, bob_id = alices.json()["job_id"], bobs.json()["job_id"]
    assert alice_id == f"alice:{chosen}" and bob_id == f"bob:{chosen}"

    # Each reads their own job by the id they chose or the one the API gave; never the other's.
    for token, own, task in ((ALICE, alice_id, "Alice's"), (BOB, bob_id, "Bob's")):
        for path_id in (chosen, own):
            answer = call(api_url, "GET", f"/v1/jobs/{path_id}", token)
            assert answer.status_code == 200 and answer.json()["request"]["task"] == task
    assert call(api_url, "GET", f"/v1/jobs/{alice_id}", BOB).status_code == 404
    assert call(api_url, "POST", f"/v1/jobs/{alice_id}/cancel", BOB).status_code == 404
    # Even Alice's stored id, chosen by Bob, is just a new job of his.
    again = call(api_url, "POST", "/v1/jobs", BOB, {"task": "Bob's 2", "job_id": alice_id})
    assert again.status_code == 202 and again.json()["job_id"] == f"bob:{alice_id}"
    # The same tenant reusing its id for another request is told so.
    clash = call(api_url, "POST", "/v1/jobs", ALICE, {"task": "Other", "job_id": chosen})
    assert clash.status_code == 409 and chosen in clash.json()["error"]
    same = call(api_url, "POST", "/v1/jobs", ALICE, {"task": "Alice's", "job_id": chosen})
    assert same.status_code == 202 and same.json()["job_id"] == alice_id

    for token, job_id in ((ALICE, alice_id), (BOB, bob_id), (BOB, again.json()["job_id"])):
        wait_until(partial(finished, api_url, token, job_id), timeout_s=WAIT_S, what=job_id)


def finished(url: str, token: str, job_id: str) -> bool:
    status = call(url, "GET", f"/v1/jobs/{job_id}", token).json()["status"]
    return bool(JobStatus(status).is_final)
