"""The pure part of signed webhooks: signing, the retry schedule and decision, which
addresses may receive a delivery, when a record change queues one and what it carries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr

from chorus.contract import limits
from chorus.contract.models import JobOptions, JobRecord, JobStatus, WebhookDelivery
from chorus.core import records, webhooks
from tests.support.factories import T0, result, running

HOOK = "https://hooks.example.com/chorus"


def with_hook(record: JobRecord, *, on_review: bool = False) -> JobRecord:
    options = JobOptions(webhook_url=HOOK, webhook_on_review=on_review)
    request = record.request.model_copy(update={"options": options})
    return record.model_copy(update={"request": request})


def finished(record: JobRecord) -> JobRecord:
    return record.model_copy(
        update={
            "status": JobStatus.PARTIAL,
            "finished_at": T0 + timedelta(seconds=3),
            "results": [result(0), result(1, ok=False)],
            "synthesis": "SECRET SYNTHESIS",
            "error": None,
        }
    )


def test_sign_is_hmac_sha256_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    body = b'{"a":1}'
    expected = hmac.new(b"whsec", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert webhooks.sign("whsec", 1700000000, body) == f"t=1700000000,v1={expected}"


def test_retry_schedule_grows_then_settles_and_scales_with_the_base() -> None:
    delays = [webhooks.retry_delay_s(n) for n in range(1, 10)]
    assert delays == [10, 30, 60, 300, 900, 1800, 3600, 7200, 7200]
    assert webhooks.retry_delay_s(1, base_s=0.1) == pytest.approx(0.1)
    assert webhooks.retry_delay_s(2, base_s=0.1) == pytest.approx(0.3)
    # Attempts at the default base fill the day and stop: about twenty in all.
    total, attempts = 0.0, 1
    while total + webhooks.retry_delay_s(attempts) < limits.WEBHOOK_RETRY_FOR_S:
        total += webhooks.retry_delay_s(attempts)
        attempts += 1
    assert 15 <= attempts <= 25


@pytest.mark.parametrize(
    ("status", "retry"),
    [(None, True), (500, True), (502, True), (503, True), (408, True), (429, True),
     (400, False), (401, False), (404, False), (410, False), (301, False)],
)  # fmt: skip
def test_should_retry(status: int | None, retry: bool) -> None:
    assert webhooks.should_retry(status) is retry


def test_delivered_is_2xx_only() -> None:
    assert webhooks.delivered(200) and webhooks.delivered(204)
    assert not webhooks.delivered(None) and not webhooks.delivered(302)
    assert not webhooks.delivered(500)


@pytest.mark.parametrize(
    ("ip", "kind"),
    [
        ("10.0.0.5", "private"),
        ("172.16.3.4", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("fc00::1", "private"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address refused, not bound
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("::ffff:10.0.0.1", "private"),
    ],
)
def test_internal_addresses_are_refused(ip: str, kind: str) -> None:
    problem = webhooks.address_problem(ip, "h.example", [])
    assert problem is not None and kind in problem and "CHORUS_WEBHOOK_ALLOW" in problem


@pytest.mark.parametrize("ip", ["93.184.216.34", "2606:2800:220:1::1", "127.0.0.1", "::1"])
def test_public_and_loopback_addresses_pass(ip: str) -> None:
    assert webhooks.address_problem(ip, "h.example", []) is None


def test_the_allow_list_names_a_network_or_the_host() -> None:
    assert webhooks.address_problem("10.1.2.3", "h", ["10.0.0.0/8"]) is None
    assert webhooks.address_problem("10.1.2.3", "hooks.internal", ["Hooks.Internal"]) is None
    assert webhooks.address_problem("10.1.2.3", "h", ["192.168.0.0/16", "other"]) is not None


def test_secret_for_a_tenant_never_falls_back_to_the_shared_one() -> None:
    secrets = {"default": SecretStr("d"), "acme": SecretStr("a")}
    assert webhooks.secret_for(secrets, "acme") == SecretStr("a")
    assert webhooks.secret_for(secrets, None) == SecretStr("d")
    assert webhooks.secret_for(secrets, webhooks.LOOPBACK_TENANT) == SecretStr("d")
    assert webhooks.secret_for(secrets, "globex") is None


def test_a_final_state_queues_one_delivery_and_only_with_a_webhook() -> None:
    before = with_hook(running())
    assert webhooks.outbox_event(before, finished(before)) == webhooks.EVENT_FINISHED
    assert webhooks.outbox_event(finished(before), finished(before)) is None  # already final
    assert webhooks.outbox_event(running(), finished(running())) is None  # no webhook_url
    cancelled = records.with_cancellation(before, T0)
    assert webhooks.outbox_event(before, cancelled) == webhooks.EVENT_FINISHED


def test_awaiting_review_queues_one_only_when_asked() -> None:
    planning = with_hook(running(), on_review=True).model_copy(
        update={"status": JobStatus.PLANNING}
    )
    waiting = planning.model_copy(update={"status": JobStatus.AWAITING_REVIEW})
    assert webhooks.outbox_event(planning, waiting) == webhooks.EVENT_AWAITING_REVIEW
    assert webhooks.outbox_event(waiting, waiting) is None
    quiet = with_hook(running()).model_copy(update={"status": JobStatus.PLANNING})
    assert webhooks.outbox_event(quiet, quiet.model_copy(update={"status": waiting.status})) is None


def test_outbox_members_round_trip() -> None:
    member = webhooks.outbox_member("job-1", webhooks.EVENT_FINISHED, 2)
    assert webhooks.parse_member(member) == ("job-1", webhooks.EVENT_FINISHED, 2)
    assert webhooks.parse_member("garbage") is None


def test_the_payload_is_the_summary_never_outputs() -> None:
    record = finished(with_hook(running()))
    body = webhooks.payload(record, webhooks.EVENT_FINISHED)
    assert body == {
        "type": "job.finished",
        "job_id": "job-1",
        "run": 1,
        "status": "partial",
        "created_at": T0.isoformat(),
        "finished_at": (T0 + timedelta(seconds=3)).isoformat(),
        "subtasks_total": 3,
        "subtasks_failed": 1,
        "tokens": record.usage.total_tokens,
        "cost_usd": round(record.usage.cost_usd, 6),
        "duration_s": 3.0,
        "error": None,
    }
    assert "SECRET" not in str(body) and "out" not in body and HOOK not in str(body)


def test_logging_a_delivery_keeps_the_status_and_caps_the_list() -> None:
    record = finished(with_hook(running()))
    for n in range(1, webhooks.MAX_DELIVERIES_KEPT + 6):
        entry = WebhookDelivery(attempt=n, at=T0, event="partial", status_code=500)
        record = webhooks.with_webhook_delivery(record, entry)
    assert record.status is JobStatus.PARTIAL
    assert len(record.webhook_deliveries) == webhooks.MAX_DELIVERIES_KEPT
    assert record.webhook_deliveries[-1].attempt == webhooks.MAX_DELIVERIES_KEPT + 5


def test_attempts_count_from_the_latest_first_attempt_of_the_same_event() -> None:
    record = finished(with_hook(running()))
    assert webhooks.attempts_so_far(record, "partial") == (0, None)
    log = [
        WebhookDelivery(attempt=1, at=T0, event="awaiting_review", delivered=True),
        WebhookDelivery(attempt=1, at=T0 + timedelta(seconds=1), event="partial"),
        WebhookDelivery(attempt=2, at=T0 + timedelta(seconds=2), event="partial"),
    ]
    record = record.model_copy(update={"webhook_deliveries": log})
    assert webhooks.attempts_so_far(record, "partial") == (2, T0 + timedelta(seconds=1))


def test_retrying_stops_a_day_after_the_first_attempt() -> None:
    day = timedelta(seconds=limits.WEBHOOK_RETRY_FOR_S)
    assert not webhooks.gives_up(T0, T0 + day - timedelta(seconds=1))
    assert webhooks.gives_up(T0, T0 + day)
    assert not webhooks.gives_up(None, T0)
