"""The webhook sender's decisions, driven with an in-memory outbox and records and a scripted
receiver: each attempt logged, 5xx and timeouts retried on the schedule, other answers final."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

from pydantic import SecretStr

from chorus.contract.models import JobOptions, JobRecord, JobStatus
from chorus.core import webhooks
from chorus.orchestrator_service.webhooks import WebhookSender
from chorus.webhooks import verify
from tests.support.factories import T0, running
from tests.support.standins import make_settings

HOOK = "https://hooks.example.com/chorus"
SECRET = "whsec_test"


class Outbox:
    def __init__(self, *members: str) -> None:
        self.due = {m: 0.0 for m in members}

    def claim_due(self, now: float, lease_s: float, limit: int) -> list[str]:
        return [m for m, at in self.due.items() if at <= now][:limit]

    def later(self, member: str, at: float) -> None:
        self.due[member] = at

    def done(self, member: str) -> None:
        self.due.pop(member, None)


class Records:
    def __init__(self, record: JobRecord) -> None:
        self.record = record

    def find(self, job_id: str) -> JobRecord | None:
        return self.record if job_id == self.record.job_id else None

    def update(
        self, job_id: str, change: Callable[[JobRecord], JobRecord]
    ) -> tuple[JobRecord, bool]:
        self.record = change(self.record)
        return self.record, True


class Receiver:
    def __init__(self, *answers: int | None) -> None:
        self.answers = list(answers)
        self.got: list[tuple[str, bytes, dict[str, str]]] = []

    def __call__(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None]:
        self.got.append((url, body, headers))
        status = self.answers.pop(0)
        return status, None if status is not None else "no answer within 10s"


class Clock:
    def __init__(self) -> None:
        self.now = T0.timestamp() + 60

    def __call__(self) -> float:
        return self.now


def rig(*answers: int | None, tenant: str | None = None, **settings: object) -> tuple[
    WebhookSender, Outbox, Records, Receiver, Clock
]:  # fmt: skip
    record = running()
    request = record.request.model_copy(
        update={"options": JobOptions(webhook_url=HOOK), "tenant": tenant}
    )
    record = record.model_copy(
        update={"request": request, "status": JobStatus.SUCCEEDED, "finished_at": T0}
    )
    member = webhooks.outbox_member(record.job_id, webhooks.EVENT_FINISHED, 1)
    outbox, records, receiver, clock = Outbox(member), Records(record), Receiver(*answers), Clock()
    config = {"webhook_secrets": {"default": SecretStr(SECRET)}, **settings}
    sender = WebhookSender(
        outbox, records, receiver, make_settings(**config), check_address=lambda _: None,
        clock=clock,
    )  # fmt: skip
    return sender, outbox, records, receiver, clock


def run_until_empty(sender: WebhookSender, outbox: Outbox, clock: Clock, rounds: int = 50) -> None:
    for _ in range(rounds):
        if not outbox.due:
            return
        for member in outbox.claim_due(clock.now, 30, 10):
            sender.deliver(member)
        clock.now = min(outbox.due.values(), default=clock.now)


def test_one_signed_delivery_logged_once() -> None:
    sender, outbox, records, receiver, clock = rig(200)
    run_until_empty(sender, outbox, clock)
    assert len(receiver.got) == 1 and not outbox.due
    url, body, headers = receiver.got[0]
    assert url == HOOK
    verify(body, headers["Chorus-Signature"], SECRET, now=clock.now)
    assert json.loads(body)["status"] == "succeeded"
    assert headers["Chorus-Event"] == "job.finished"
    assert headers["Chorus-Delivery"] == "job-1:job.finished:1:1"
    assert headers["Content-Type"] == "application/json"
    [entry] = records.record.webhook_deliveries
    assert (entry.attempt, entry.event, entry.status_code, entry.delivered) == (
        1, "succeeded", 200, True,
    )  # fmt: skip
    assert records.record.status is JobStatus.SUCCEEDED


def test_500_twice_then_delivered_on_the_third_try_on_the_schedule() -> None:
    sender, outbox, records, receiver, clock = rig(500, 500, 200, webhook_retry_base_s=10)
    start = clock.now
    sender.deliver(next(iter(outbox.due)))
    assert outbox.due == {"job-1\tjob.finished\t1": start + 10}
    run_until_empty(sender, outbox, clock)
    assert [d.status_code for d in records.record.webhook_deliveries] == [500, 500, 200]
    assert [d.attempt for d in records.record.webhook_deliveries] == [1, 2, 3]
    assert [d.delivered for d in records.record.webhook_deliveries] == [False, False, True]
    assert clock.now == start + 10 + 30
    assert receiver.got[2][2]["Chorus-Delivery"].endswith(":3")


def test_a_timeout_is_retried() -> None:
    sender, outbox, records, _, clock = rig(None, 204)
    run_until_empty(sender, outbox, clock)
    first, second = records.record.webhook_deliveries
    assert first.status_code is None and first.error and "no answer" in first.error
    assert second.delivered


def test_410_gives_up_at_once() -> None:
    sender, outbox, records, receiver, clock = rig(410, 200)
    run_until_empty(sender, outbox, clock)
    assert len(receiver.got) == 1 and not outbox.due
    assert records.record.webhook_deliveries[0].status_code == 410


def test_a_receiver_down_all_day_is_given_up_after_a_day() -> None:
    sender, outbox, records, receiver, clock = rig(*([503] * 100))
    start = clock.now
    run_until_empty(sender, outbox, clock, rounds=100)
    assert not outbox.due
    made = len(receiver.got)
    assert 15 <= made <= 25
    last = records.record.webhook_deliveries[-1].at.timestamp()
    assert last - start < 24 * 3600


def test_no_secret_for_the_tenant_sends_nothing_and_does_not_retry() -> None:
    sender, outbox, records, receiver, clock = rig(200, tenant="globex")
    run_until_empty(sender, outbox, clock)
    assert receiver.got == [] and not outbox.due
    [entry] = records.record.webhook_deliveries
    assert entry.error and "no signing secret" in entry.error and not entry.delivered


def test_a_private_address_at_delivery_time_is_refused_without_retry() -> None:
    sender, outbox, records, receiver, clock = rig(200)
    sender._check_address = lambda _: "webhook_url host 'x' is a private address (10.0.0.1)"
    run_until_empty(sender, outbox, clock)
    assert receiver.got == [] and not outbox.due
    assert "private" in (records.record.webhook_deliveries[0].error or "")


def test_an_expired_job_is_dropped_from_the_outbox() -> None:
    sender, outbox, _, receiver, _ = rig(200)
    outbox.due["gone\tjob.finished\t1"] = 0.0
    sender.deliver("gone\tjob.finished\t1")
    sender.deliver("not a member")
    assert "gone\tjob.finished\t1" not in outbox.due and receiver.got == []


def test_a_second_run_starts_its_attempts_at_one() -> None:
    sender, outbox, records, receiver, clock = rig(200, 200)
    run_until_empty(sender, outbox, clock)
    from chorus.contract.lifecycle import JobRun

    rerun = JobRun(run=2, started_at=T0 + timedelta(seconds=120))
    records.record = records.record.model_copy(
        update={"runs": [JobRun(run=1, started_at=T0), rerun]}
    )
    clock.now = T0.timestamp() + 200
    outbox.due["job-1\tjob.finished\t2"] = 0.0
    run_until_empty(sender, outbox, clock)
    assert [d.attempt for d in records.record.webhook_deliveries] == [1, 1]
    assert receiver.got[1][2]["Chorus-Delivery"] == "job-1:job.finished:2:1"
