"""Signed webhooks with real processes: the shared stack's orchestrator POSTs each final job to
a real HTTP receiver on 127.0.0.1, signed (verified here with `chorus.webhooks.verify`),
retried on 5xx, every attempt logged on the record; the API refuses internal addresses."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import chorus.webhooks
from chorus.contract.models import JobRecord, JobStatus
from tests.support.api_server import idle_api
from tests.support.runner import JobRunner
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import TEST_SECRET, Received, WebhookReceiver

IDLE_DB = 6  # no orchestrator consumes it: an accepted job stays `planning`


def deliveries_logged(jobs: JobRunner, job_id: str, count: int) -> JobRecord:
    """The record once it has `count` delivery attempts logged (the last one delivered)."""
    found: list[JobRecord] = []

    def logged() -> bool:
        record = jobs.store.get(job_id)
        found[:] = [record]
        return len(record.webhook_deliveries) >= count and record.webhook_deliveries[-1].delivered

    def said() -> str:
        return f"{count} deliveries, got {found[0].webhook_deliveries if found else 'no record'}"

    wait_until(logged, timeout_s=30, what=said)
    return found[0]


def check_signed(
    received: Received, record: JobRecord, *, exact_tokens: bool = True
) -> dict[str, object]:
    chorus.webhooks.verify(received.body, received.headers["chorus-signature"], TEST_SECRET)
    payload = json.loads(received.body)
    assert received.method == "POST" and received.path == "/hook"
    assert received.headers["content-type"] == "application/json"
    assert received.headers["chorus-event"] == "job.finished"
    assert payload["type"] == "job.finished" and payload["job_id"] == record.job_id
    assert payload["status"] == record.status.value
    assert payload["subtasks_total"] == record.subtasks_total
    if exact_tokens:
        assert payload["tokens"] == record.usage.total_tokens
    return dict(payload)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hook:
        yield hook


def test_each_final_job_gets_one_signed_delivery(
    jobs: JobRunner, receiver: WebhookReceiver
) -> None:
    options = {"max_subtasks": 2, "webhook_url": receiver.url}
    record = jobs.run("Compare tea and coffee.", options=options)
    assert record.status is JobStatus.SUCCEEDED

    logged = deliveries_logged(jobs, record.job_id, 1)
    time.sleep(2)  # ample time for a duplicate to show up (retries here are 0.5 s apart)

    [received] = receiver.for_job(record.job_id)
    payload = check_signed(received, record)
    assert "results" not in payload and "synthesis" not in payload
    assert received.headers["chorus-delivery"] == f"{record.job_id}:job.finished:1:1"
    [entry] = jobs.store.get(record.job_id).webhook_deliveries
    assert (entry.attempt, entry.event, entry.status_code, entry.delivered) == (
        1, "succeeded", 200, True,
    )  # fmt: skip
    assert logged.status is JobStatus.SUCCEEDED
    with pytest.raises(chorus.webhooks.WebhookSignatureError):
        chorus.webhooks.verify(received.body + b" ", received.headers["chorus-signature"],
                               TEST_SECRET)  # fmt: skip


def test_a_receiver_answering_500_twice_gets_it_on_the_third_try(jobs: JobRunner) -> None:
    with WebhookReceiver(500, 500, 200) as hook:
        record = jobs.run("List uses of a brick.", options={"max_subtasks": 2,
                                                            "webhook_url": hook.url})  # fmt: skip
        logged = deliveries_logged(jobs, record.job_id, 3)
        tries = hook.for_job(record.job_id)

    assert len(tries) == 3
    for received in tries:
        check_signed(received, record)
    assert [r.headers["chorus-delivery"].rsplit(":", 1)[1] for r in tries] == ["1", "2", "3"]
    attempts = logged.webhook_deliveries
    assert [(d.attempt, d.status_code, d.delivered) for d in attempts] == [
        (1, 500, False), (2, 500, False), (3, 200, True),
    ]  # fmt: skip
    # Backed off on the schedule (0.5 s, then 1.5 s at the tests' base), not hammered.
    assert tries[1].at - tries[0].at >= 0.4 and tries[2].at - tries[1].at >= 1.3


def test_failed_and_cancelled_jobs_get_their_delivery(
    jobs: JobRunner, receiver: WebhookReceiver
) -> None:
    # Planning alone spends more than 10 tokens: the job fails with budget_exceeded.
    failed = jobs.run("Plan a trip.", options={"max_total_tokens": 10,
                                               "webhook_url": receiver.url})  # fmt: skip
    cancelled_id = jobs.submit("Write a long essay.", options={"webhook_url": receiver.url})
    cancelled = jobs.cancel(cancelled_id)
    assert failed.status is JobStatus.FAILED and cancelled.status is JobStatus.CANCELLED

    for record in (failed, jobs.store.get(cancelled_id)):
        deliveries_logged(jobs, record.job_id, 1)
        [received] = receiver.for_job(record.job_id)
        # A call in flight when the job was cancelled still ends, and its spend joins the
        # record after the final state: the summary has what was on record when it was sent.
        exact = record.status is not JobStatus.CANCELLED
        payload = check_signed(received, record, exact_tokens=exact)
        assert payload["error"] == record.error
        if not exact:  # spend only grows: the summary sent is never ahead of the record
            later = jobs.store.get(cancelled_id).usage.total_tokens
            assert isinstance(payload["tokens"], int) and payload["tokens"] <= later


def test_a_slow_receiver_never_delays_the_final_state(jobs: JobRunner) -> None:
    with WebhookReceiver(200, delay_s=5) as hook:
        job_id = jobs.submit("Name three rivers.", options={"max_subtasks": 2,
                                                            "webhook_url": hook.url})  # fmt: skip
        record = jobs.wait(job_id, timeout_s=60)
        wait_until(lambda: len(hook.for_job(job_id)) == 1, timeout_s=20, what="the delivery")
        # The receiver is still holding the POST: the job was final before it was even sent.
        during = jobs.store.get(job_id)
        assert during.status.is_final and during.webhook_deliveries == []
        [received] = hook.for_job(job_id)
        assert record.finished_at is not None
        assert record.finished_at.timestamp() <= received.at
        logged = deliveries_logged(jobs, job_id, 1)
    assert logged.webhook_deliveries[0].status_code == 200


BAD_URLS = [
    ("http://example.com/hook", "must be https"),
    ("https://10.0.0.5/hook", "private address"),
    ("https://172.16.0.1/hook", "private address"),
    ("https://169.254.169.254/latest/meta-data", "link-local address"),
    ("https://[fe80::1]/hook", "link-local address"),
    ("https://0.0.0.0/hook", "unspecified address"),
    ("https://does-not-exist.invalid/hook", "does not resolve"),
]


def test_api_refuses_webhooks_to_internal_addresses(redis_url: str, workdir: Path) -> None:
    env = {"CHORUS_WEBHOOK_SECRETS": json.dumps({"default": TEST_SECRET})}
    with idle_api(redis_url, IDLE_DB, workdir / "webhooks-api.log", env) as (_, url, db):
        for hook, reason in BAD_URLS:
            answer = httpx.post(f"{url}/v1/jobs", json={"task": "t", "options": {
                "webhook_url": hook}}, timeout=10)  # fmt: skip
            assert answer.status_code == 422, (hook, answer.text)
            body = answer.json()
            [field] = body["fields"]
            assert field["field"] == "options.webhook_url", body
            assert reason in field["message"] and reason in body["error"], (hook, body)
            assert "Traceback" not in answer.text
        assert db.llen("orchestrator") == 0 and not db.keys("chorus:job:*")

        loopback = {"task": "t", "options": {"webhook_url": "http://127.0.0.1:9/hook"}}
        assert httpx.post(f"{url}/v1/jobs", json=loopback, timeout=10).status_code == 202


def test_api_accepts_an_allow_listed_network_and_needs_a_secret(
    redis_url: str, workdir: Path
) -> None:
    env = {"CHORUS_WEBHOOK_ALLOW": '["10.0.0.0/8"]'}
    with idle_api(redis_url, IDLE_DB, workdir / "webhooks-allow-api.log", env) as (_, url, _db):
        allowed = {"task": "t", "options": {"webhook_url": "https://10.0.0.5/hook"}}
        answer = httpx.post(f"{url}/v1/jobs", json=allowed, timeout=10)
        # Allowed by the list, but no CHORUS_WEBHOOK_SECRETS to sign with: refused, not unsigned.
        assert answer.status_code == 422
        assert "CHORUS_WEBHOOK_SECRETS" in answer.json()["fields"][0]["message"]

    env["CHORUS_WEBHOOK_SECRETS"] = json.dumps({"default": TEST_SECRET})
    with idle_api(redis_url, IDLE_DB, workdir / "webhooks-allow-api2.log", env) as (_, url, _db):
        assert httpx.post(f"{url}/v1/jobs", json=allowed, timeout=10).status_code == 202
        still = {"task": "t", "options": {"webhook_url": "https://192.168.1.1/hook"}}
        assert httpx.post(f"{url}/v1/jobs", json=still, timeout=10).status_code == 422


def test_awaiting_review_is_delivered_when_asked_then_the_end(
    jobs: JobRunner, receiver: WebhookReceiver
) -> None:
    options = {"review_plan": True, "webhook_on_review": True, "webhook_url": receiver.url}
    job_id = jobs.submit("Plan a garden.", options=options)
    wait_until(lambda: len(receiver.for_job(job_id)) == 1, timeout_s=30, what="the review hook")
    [review] = receiver.for_job(job_id)
    chorus.webhooks.verify(review.body, review.headers["chorus-signature"], TEST_SECRET)
    assert json.loads(review.body)["type"] == "job.awaiting_review"
    assert review.headers["chorus-event"] == "job.awaiting_review"

    jobs.cancel(job_id)
    record = deliveries_logged(jobs, job_id, 2)
    _, last = receiver.for_job(job_id)
    assert check_signed(last, record)["status"] == "cancelled"
    assert [d.event for d in record.webhook_deliveries] == ["awaiting_review", "cancelled"]
