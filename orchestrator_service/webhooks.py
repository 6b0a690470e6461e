"""The webhook sender: every orchestrator process runs one beside its tasks. It claims due
entries of the outbox (`chorus.store.webhook_outbox`), POSTs each job's signed summary, logs
every attempt on the record and retries on 5xx or no answer with backoff for up to a day.

A job's final state is recorded before its delivery is even attempted (the outbox entry is
written in the same transaction), so a slow or dead receiver never holds a job up.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from typing import Protocol

import httpx
import redis

from chorus.contract import limits
from chorus.contract.models import JobRecord, WebhookDelivery
from chorus.core import webhooks
from chorus.errors import JobNotFound
from chorus.orchestrator_service.webhook_addresses import url_address_problem
from chorus.settings import Settings
from chorus.store.jobs import JobStore
from chorus.store.webhook_outbox import WebhookOutbox

log = logging.getLogger(__name__)

# What one POST answers: the receiver's status, or None with the reason no answer came.
Post = Callable[[str, bytes, dict[str, str]], tuple[int | None, str | None]]
AddressCheck = Callable[[str], str | None]


class OutboxPort(Protocol):
    def claim_due(self, now: float, lease_s: float, limit: int) -> list[str]: ...
    def later(self, member: str, at: float) -> None: ...
    def done(self, member: str) -> None: ...


class RecordsPort(Protocol):
    def find(self, job_id: str) -> JobRecord | None: ...
    def update(
        self, job_id: str, change: Callable[[JobRecord], JobRecord]
    ) -> tuple[JobRecord, bool]: ...


def httpx_post(client: httpx.Client) -> Post:
    def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
        try:
            response = client.post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            return None, f"no answer within {limits.WEBHOOK_TIMEOUT_S:.0f}s"
        except httpx.HTTPError as exc:
            return None, f"could not connect: {type(exc).__name__}"
        return response.status_code, None

    return post


class WebhookSender:
    """Delivers one outbox entry at a time; the I/O comes in, so tests can drive it."""

    def __init__(
        self,
        outbox: OutboxPort,
        jobs: RecordsPort,
        post: Post,
        settings: Settings,
        *,
        check_address: AddressCheck | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._outbox, self._jobs, self._post = outbox, jobs, post
        self._settings = settings
        self._check_address = check_address or (
            lambda url: url_address_problem(url, settings.webhook_allow)
        )
        self._clock = clock

    def deliver(self, member: str) -> None:
        """One attempt at the delivery `member` names; it is rescheduled or removed after."""
        parsed = webhooks.parse_member(member)
        record = self._jobs.find(parsed[0]) if parsed is not None else None
        url = record.request.options.webhook_url if record is not None else None
        if parsed is None or record is None or url is None:
            self._outbox.done(member)  # malformed, or its job expired: nothing to send
            return
        job_id, event, run = parsed
        label = webhooks.delivery_label(record, event)
        made, first_at = webhooks.attempts_so_far(record, label)
        now = self._clock()
        at = datetime.fromtimestamp(now, UTC)
        status, error = self._attempt(record, url, event, run, made + 1, now)
        ok = webhooks.delivered(status)
        entry = WebhookDelivery(
            attempt=made + 1, at=at, event=label, status_code=status, error=error, delivered=ok
        )
        with contextlib.suppress(JobNotFound):
            self._jobs.update(job_id, lambda r: webhooks.with_webhook_delivery(r, entry))
        retry = not ok and error_is_retryable(status, error)
        delay = webhooks.retry_delay_s(made + 1, self._settings.webhook_retry_base_s)
        next_at = datetime.fromtimestamp(now + delay, UTC)
        if retry and not webhooks.gives_up(first_at or at, next_at):
            self._outbox.later(member, now + delay)
            log.info("webhook of job %s: attempt %d failed (%s), next in %.0fs",
                     job_id, made + 1, status or error, delay)  # fmt: skip
            return
        self._outbox.done(member)
        if not ok:
            log.warning("webhook of job %s not delivered after %d attempt(s): %s",
                        job_id, made + 1, status or error)  # fmt: skip

    def _attempt(
        self, record: JobRecord, url: str, event: str, run: int, attempt: int, now: float
    ) -> tuple[int | None, str | None]:
        tenant = record.request.tenant
        secret = webhooks.secret_for(self._settings.webhook_secrets, tenant)
        if secret is None:
            return None, f"{_PERMANENT}no signing secret configured for tenant {tenant!r}"
        problem = self._check_address(url)
        if problem is not None:
            return None, _PERMANENT + problem
        body = json.dumps(webhooks.payload(record, event), separators=(",", ":")).encode()
        timestamp = int(now)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"chorus/{metadata.version('chorus-jobs')}",
            "Chorus-Event": event,
            "Chorus-Delivery": f"{record.job_id}:{event}:{run}:{attempt}",
            webhooks.SIGNATURE_HEADER: webhooks.sign(secret.get_secret_value(), timestamp, body),
        }
        return self._post(url, body, headers)


# An attempt refused before any request (no secret, a private address): never retried.
_PERMANENT = "not sent: "


def error_is_retryable(status: int | None, error: str | None) -> bool:
    if status is None and error is not None and error.startswith(_PERMANENT):
        return False
    return webhooks.should_retry(status)


class WebhookThread(threading.Thread):
    """Claims due deliveries every `poll_s` and sends them on a few threads."""

    def __init__(
        self, settings: Settings, client: redis.Redis, *, poll_s: float = 0.5, senders: int = 4
    ) -> None:
        super().__init__(name="chorus-webhooks", daemon=True)
        self._http = httpx.Client(timeout=limits.WEBHOOK_TIMEOUT_S, follow_redirects=False)
        self._outbox = WebhookOutbox(client)
        jobs = JobStore(client, ttl_s=settings.job_ttl_s, delta_linger_s=settings.delta_linger_s)
        self.sender = WebhookSender(self._outbox, jobs, httpx_post(self._http), settings)
        self._pool = concurrent.futures.ThreadPoolExecutor(senders, "chorus-webhook")
        self._slots = 2 * senders
        self._in_flight: set[concurrent.futures.Future[None]] = set()
        self._poll_s = poll_s
        self._stop = threading.Event()

    def run(self) -> None:
        # Held long enough for one POST to time out and its attempt to be logged.
        lease_s = limits.WEBHOOK_TIMEOUT_S + 30
        while not self._stop.is_set():
            self._in_flight = {f for f in self._in_flight if not f.done()}
            free = self._slots - len(self._in_flight)
            try:
                due = self._outbox.claim_due(time.time(), lease_s, free) if free > 0 else []
            except redis.RedisError as exc:
                log.warning("webhook outbox unreachable: %s", type(exc).__name__)
                due = []
            for member in due:
                self._in_flight.add(self._pool.submit(self._deliver, member))
            self._stop.wait(self._poll_s)

    def _deliver(self, member: str) -> None:
        try:
            self.sender.deliver(member)
        except redis.RedisError as exc:
            # The entry stays claimed until its lease ends, then is tried again.
            log.warning("webhook delivery could not be recorded: %s", type(exc).__name__)
        except Exception:
            log.exception("webhook delivery crashed")

    def stop(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.close()
