"""Plan review on the real stack: a job with `review_plan` stops in `awaiting_review` with no
worker call, then is approved, edited or rejected over HTTP (`POST /v1/jobs/{id}/plan`),
through the Celery contract (`orchestrator.review_plan`) or the CLI; a wrong answer is
refused (409, 422 naming the rule); an unanswered one times out through the reconciler."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chorus.contract import names
from chorus.contract.events import EventKind
from chorus.contract.models import JobRecord, JobStatus
from chorus.devstack.stack import LocalStack
from chorus.store.jobs import JobStore
from tests.support.api_server import start_api
from tests.support.runner import JobRunner
from tests.support.simulator_control import SimulatorControl
from tests.support.waiting import wait_until

TOKEN = "review-token-0123456789"
REVIEW = {"review_plan": True, "max_subtasks": 3}
FINAL = (JobStatus.SUCCEEDED, JobStatus.PARTIAL, JobStatus.FAILED)
# An approved job ends this soon when its answer sent the subtasks, before the reconciler
# (10 s grace on the shared stack) could have.
QUICK_S = 8.0


class Api:
    def __init__(self, url: str) -> None:
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        )

    def submit(self, **options: Any) -> str:
        body = {"task": "Compare three ways to learn a language", "options": options}
        answer = self.http.post("/v1/jobs", json=body)
        assert answer.status_code == 202, answer.text
        return str(answer.json()["job_id"])

    def get(self, job_id: str) -> JobRecord:
        return JobRecord.model_validate(self.http.get(f"/v1/jobs/{job_id}").json())

    def review(self, job_id: str, body: Any) -> httpx.Response:
        return self.http.post(f"/v1/jobs/{job_id}/plan", json=body)

    def wait(self, job_id: str, *statuses: JobStatus, timeout_s: float = 60) -> JobRecord:
        seen: list[JobRecord] = []

        def reached() -> bool:
            seen.append(self.get(job_id))
            return seen[-1].status in statuses

        wanted = ", ".join(s.value for s in statuses)
        wait_until(reached, timeout_s=timeout_s, every_s=0.1, what=f"job {job_id}: {wanted}")
        return seen[-1]

    def awaiting(self, **options: Any) -> JobRecord:
        job_id = self.submit(**{**REVIEW, **options})
        return self.wait(job_id, JobStatus.AWAITING_REVIEW)


@pytest.fixture(scope="module")
def api(chorus_stack: LocalStack, workdir: Path) -> Iterator[Api]:
    env = {**os.environ, **chorus_stack.env, "CHORUS_API_TOKENS": f"reviewer:{TOKEN}"}
    proc, url = start_api(env, workdir / "review-api.log")
    client = Api(url)
    try:
        yield client
    finally:
        client.http.close()
        proc.stop()


def _kinds(jobs: JobRunner, job_id: str) -> list[EventKind]:
    return [e.kind for e in jobs.app.job_events.read(job_id, "0", block_ms=100)]


def test_a_reviewed_job_waits_with_no_worker_call_then_an_approval_runs_it(
    api: Api, jobs: JobRunner, sim: SimulatorControl
) -> None:
    record = api.awaiting()
    assert record.plan is not None and record.plan.subtasks and record.review is None
    assert len(sim.requests()) == 1  # the planning call, and no worker's
    assert EventKind.AWAITING_REVIEW in _kinds(jobs, record.job_id)
    answer = api.review(record.job_id, {"approve": True})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "running"
    # Sent by the answer itself: well within the reconciler's 10 s grace period.
    done = api.wait(record.job_id, *FINAL, timeout_s=QUICK_S)
    assert done.status is JobStatus.SUCCEEDED and done.plan == record.plan
    assert done.review is not None and done.review.decision == "approved"
    assert len(done.results) == len(record.plan.subtasks)
    kinds = _kinds(jobs, record.job_id)
    assert kinds.index(EventKind.AWAITING_REVIEW) < kinds.index(EventKind.PLANNED)
    # Answered once: a second answer is a conflict.
    again = api.review(record.job_id, {"reject": True})
    assert again.status_code == 409 and "not awaiting review" in again.json()["error"]


def test_an_edited_plan_is_the_one_that_runs(api: Api, sim: SimulatorControl) -> None:
    record = api.awaiting()
    assert record.plan is not None and len(record.plan.subtasks) >= 2
    first, *_rest, last = record.plan.subtasks
    edited = [
        {"type": first.type, "description": "Reworded: list only the costs of this way."},
        {"type": "immersion", "description": "Added: describe learning by living abroad."},
    ]  # `last` removed
    answer = api.review(record.job_id, {"plan": {"subtasks": edited}})
    assert answer.status_code == 200, answer.text
    done = api.wait(record.job_id, *FINAL, timeout_s=QUICK_S)
    assert done.status is JobStatus.SUCCEEDED
    assert done.plan is not None and done.plan.analysis == record.plan.analysis
    ran = [(r.type, r.description) for r in done.results]
    assert ran == [(e["type"], e["description"]) for e in edited]
    assert last.type not in {t for t, _ in ran}
    assert done.review is not None and done.review.decision == "edited"
    # The workers were given the edited descriptions.
    texts = json.dumps(sim.requests())
    assert "Reworded: list only the costs" in texts and "living abroad" in texts


def test_an_edited_plan_breaking_a_rule_is_422_naming_it(api: Api) -> None:
    record = api.awaiting()
    repeated = [{"type": "same", "description": "a"}, {"type": "Same", "description": "b"}]
    answer = api.review(record.job_id, {"plan": {"subtasks": repeated}})
    assert answer.status_code == 422
    assert "repeats the type" in answer.json()["error"]
    assert answer.json()["fields"][0]["field"] == "plan"
    many = [{"type": f"t{i}", "description": "d"} for i in range(4)]
    answer = api.review(record.job_id, {"plan": {"subtasks": many}})
    assert answer.status_code == 422 and "at most 3" in answer.json()["error"]
    both = api.review(record.job_id, {"approve": True, "reject": True})
    assert both.status_code == 422 and "exactly one" in both.json()["error"]
    assert api.get(record.job_id).status is JobStatus.AWAITING_REVIEW
    assert api.review("no-such-job", {"approve": True}).status_code == 404
    api.review(record.job_id, {"reject": True})  # leave nothing waiting


def test_a_rejection_cancels_the_job_with_the_reason(
    api: Api, jobs: JobRunner, sim: SimulatorControl
) -> None:
    record = api.awaiting()
    answer = api.review(record.job_id, {"reject": True, "reason": "too broad"})
    assert answer.status_code == 200, answer.text
    done = api.get(record.job_id)
    assert done.status is JobStatus.CANCELLED and done.error == "plan rejected: too broad"
    assert done.review is not None and done.review.decision == "rejected"
    assert EventKind.CANCELLED in _kinds(jobs, record.job_id)
    assert len(sim.requests()) == 1 and done.results == []
    assert api.review(record.job_id, {"approve": True}).status_code == 409


def test_a_job_awaiting_review_can_be_cancelled(api: Api) -> None:
    record = api.awaiting()
    cancelled = api.http.post(f"/v1/jobs/{record.job_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert api.review(record.job_id, {"approve": True}).status_code == 409


def test_the_celery_contract_approves_too(jobs: JobRunner, store: JobStore) -> None:
    job_id = jobs.submit("Name three rivers", options=REVIEW)
    wait_until(
        lambda: store.get(job_id).status is JobStatus.AWAITING_REVIEW,
        timeout_s=60,
        what="awaiting review",
    )
    sent = jobs.app.send_task(
        names.REVIEW_PLAN_TASK,
        kwargs={"job_id": job_id, "approve": True},
        queue=names.ORCHESTRATOR_QUEUE,
    )
    assert sent.get(timeout=30) == {"job_id": job_id, "status": "running"}
    done = jobs.wait(job_id, timeout_s=QUICK_S)
    assert done.status is JobStatus.SUCCEEDED
    assert done.review is not None and done.review.decision == "approved"


def _cli(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chorus.cli", "review", *args],
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _awaiting(jobs: JobRunner, store: JobStore, task: str) -> JobRecord:
    job_id = jobs.submit(task, options=REVIEW)
    wait_until(
        lambda: store.get(job_id).status is JobStatus.AWAITING_REVIEW,
        timeout_s=60,
        what="awaiting review",
    )
    return store.get(job_id)


def test_the_cli_shows_the_plan_and_approves(
    chorus_stack: LocalStack, jobs: JobRunner, store: JobStore
) -> None:
    record = _awaiting(jobs, store, "Name three lakes")
    assert record.plan is not None
    # No answer given and no terminal to ask on: the plan is shown, nothing is sent.
    shown = _cli(chorus_stack, record.job_id)
    assert shown.returncode == 2 and "--approve" in shown.stderr
    assert f"1. {record.plan.subtasks[0].type}" in shown.stdout
    assert store.get(record.job_id).status is JobStatus.AWAITING_REVIEW
    done = _cli(chorus_stack, record.job_id, "--approve")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{record.job_id} running"
    assert jobs.wait(record.job_id, timeout_s=QUICK_S).status is JobStatus.SUCCEEDED
    again = _cli(chorus_stack, record.job_id, "--approve")
    assert again.returncode == 1 and "not awaiting review" in again.stderr


def test_the_cli_runs_an_edited_plan_from_a_file(
    chorus_stack: LocalStack, jobs: JobRunner, store: JobStore, tmp_path: Path
) -> None:
    record = _awaiting(jobs, store, "Name three mountains")
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps([{"type": "alpine", "description": "Only the Alps."}]))
    done = _cli(chorus_stack, record.job_id, "--plan", str(plan), "--json")
    assert done.returncode == 0, done.stderr
    assert JobRecord.model_validate_json(done.stdout).status is JobStatus.RUNNING
    finished = jobs.wait(record.job_id, timeout_s=QUICK_S)
    assert [r.type for r in finished.results] == ["alpine"]
    plan.write_text(json.dumps([{"type": "a", "description": "x"}] * 2))
    other = _awaiting(jobs, store, "Name three seas")
    broken = _cli(chorus_stack, other.job_id, "--plan", str(plan))
    assert broken.returncode == 2 and "repeats the type" in broken.stderr
    assert _cli(chorus_stack, other.job_id, "--reject", "--reason", "no").returncode == 0
    assert store.get(other.job_id).error == "plan rejected: no"


def test_an_unanswered_review_times_out_failed_with_the_reason(api: Api) -> None:
    record = api.awaiting(review_timeout_s=1)
    # The shared stack's reconciler: a sweep every 5 s, after a 10 s grace period.
    done = api.wait(record.job_id, JobStatus.FAILED, timeout_s=60)
    assert done.error == "review_timeout: the plan was not reviewed within 1s"
    assert done.review is not None and done.review.decision == "timed_out"
    assert done.results == []


def test_the_console_shows_the_review_and_approves_or_rejects_with_its_form_token(
    api: Api,
) -> None:
    approve, reject = api.awaiting(), api.awaiting()
    with httpx.Client(base_url=str(api.http.base_url), timeout=30) as browser:
        login = browser.get("/ui/login").text
        token = re.search(r'name="csrf" value="([0-9a-f]{64})"', login)
        assert token is not None
        browser.post("/ui/login", data={"token": TOKEN, "csrf": token.group(1)})
        path = f"/ui/jobs/{approve.job_id}"
        page = browser.get(path).text
        assert "awaiting_review" in page and "Approve plan" in page and "Reject plan" in page
        found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
        assert found is not None
        csrf = found.group(1)
        assert browser.post(f"{path}/plan", data={"decision": "approve"}).status_code == 403
        done = browser.post(f"{path}/plan", data={"decision": "approve", "csrf": csrf})
        assert done.status_code == 303
        assert api.wait(approve.job_id, *FINAL, timeout_s=QUICK_S).status is JobStatus.SUCCEEDED
        assert "Approve plan" not in browser.get(path).text
        again = browser.post(f"{path}/plan", data={"decision": "reject", "csrf": csrf})
        assert again.status_code == 409
        answer = {"decision": "reject", "reason": "not now", "csrf": csrf}
        assert browser.post(f"/ui/jobs/{reject.job_id}/plan", data=answer).status_code == 303
        rejected = api.get(reject.job_id)
        assert rejected.status is JobStatus.CANCELLED and rejected.error == "plan rejected: not now"


def test_the_review_route_is_documented_with_its_real_errors(api: Api) -> None:
    spec = api.http.get("/openapi.json").json()
    route = spec["paths"]["/v1/jobs/{job_id}/plan"]["post"]
    assert {"200", "401", "404", "409", "422", "503"} <= set(route["responses"])
    assert route["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/InvalidBody"
    )
    body = route["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body.endswith("/PlanReview")


def test_chorus_submit_review_stops_the_job_after_planning(
    chorus_stack: LocalStack, jobs: JobRunner, store: JobStore
) -> None:
    submitted = subprocess.run(
        [sys.executable, "-m", "chorus.cli", "submit", "Name two seas", "--review"],
        env={**os.environ, **chorus_stack.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    wait_until(
        lambda: store.get(job_id).status is JobStatus.AWAITING_REVIEW,
        timeout_s=60,
        what="awaiting review",
    )
    assert store.get(job_id).request.options.review_plan is True
    assert _cli(chorus_stack, job_id, "--reject", "--reason", "not now").returncode == 0
    assert jobs.wait(job_id, timeout_s=QUICK_S).status is JobStatus.CANCELLED


def _on_a_terminal(
    stack: LocalStack, job_id: str, typed: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`chorus review JOB_ID` with a pseudo-terminal as its stdin, the answers typed ahead."""
    import pty

    main, child = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "chorus.cli", "review", job_id],
            stdin=child,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **stack.env, **(env or {})},
            text=True,
        )
        os.write(main, typed.encode())
        out, err = proc.communicate(timeout=120)
    finally:
        os.close(child)
        os.close(main)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


EDITOR_KEEPS_THE_FIRST = """
import json, sys
path = sys.argv[1]
plan = json.load(open(path))
plan["subtasks"] = plan["subtasks"][:1]
plan["subtasks"][0]["description"] = "Only the one the reviewer kept."
json.dump(plan, open(path, "w"))
"""


def test_on_a_terminal_the_cli_asks_and_approves_edits_in_the_editor_or_rejects(
    chorus_stack: LocalStack, jobs: JobRunner, store: JobStore, tmp_path: Path
) -> None:
    approved = _awaiting(jobs, store, "Name three forests")
    answered = _on_a_terminal(chorus_stack, approved.job_id, "a\n")
    assert answered.returncode == 0, answered.stderr
    assert "approve, edit or reject?" in answered.stdout
    assert jobs.wait(approved.job_id, timeout_s=QUICK_S).status is JobStatus.SUCCEEDED

    editor = tmp_path / "editor.py"
    editor.write_text(EDITOR_KEEPS_THE_FIRST)
    edited = _awaiting(jobs, store, "Name three deserts")
    assert edited.plan is not None
    env = {"VISUAL": f"{sys.executable} {editor}"}
    answered = _on_a_terminal(chorus_stack, edited.job_id, "e\n", env)
    assert answered.returncode == 0, answered.stderr
    finished = jobs.wait(edited.job_id, timeout_s=QUICK_S)
    assert [r.type for r in finished.results] == [edited.plan.subtasks[0].type]
    assert finished.plan is not None
    assert finished.plan.subtasks[0].description == "Only the one the reviewer kept."

    rejected = _awaiting(jobs, store, "Name three canyons")
    answered = _on_a_terminal(chorus_stack, rejected.job_id, "r\ntoo vague\n")
    assert answered.returncode == 0, answered.stderr
    assert store.get(rejected.job_id).error == "plan rejected: too vague"
