"""Signed webhooks, the pure part: what is sent (the record's summary), how it is signed, when
a delivery is queued and retried, which addresses may receive it. No I/O: the job store queues
deliveries (`chorus.store.transitions`), the orchestrator's sender POSTs them
(`chorus.orchestrator_service.webhooks`), the API checks addresses on submit.

The signature follows the well-known payment-provider scheme: `Chorus-Signature: t=<unix
seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`; `chorus.webhooks.verify` checks it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from chorus.contract import limits
from chorus.contract.models import JobRecord, JobStatus, WebhookDelivery
from chorus.core.announcements import job_ended

SIGNATURE_HEADER = "Chorus-Signature"
# The API's tenant when it has no tokens (`chorus.orchestrator_service.api.auth`).
LOOPBACK_TENANT = "local"
EVENT_FINISHED = "job.finished"
EVENT_AWAITING_REVIEW = "job.awaiting_review"
# A record keeps the newest attempts only: a receiver down for a day makes ~20.
MAX_DELIVERIES_KEPT = 50
# Backoff between attempts, in units of `webhook_retry_base_s` (10 s by default): 10 s, 30 s,
# 1 min, 5 min, 15 min, 30 min, 1 h, then every 2 h until a day after the first attempt.
_SCHEDULE = (1, 3, 6, 30, 90, 180, 360)
_LATER = 720

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of `"<timestamp>." + body` under `secret`."""
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `Chorus-Signature` header value for `body` sent at `timestamp` (unix seconds)."""
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def secret_for(secrets: Mapping[str, SecretStr], tenant: str | None) -> SecretStr | None:
    """The secret a job's webhook is signed with: its tenant's own. A job without a tenant, or
    of the API's one loopback tenant (no tokens configured), signs with "default"; a named
    tenant never falls back to it, so one tenant cannot forge another's deliveries."""
    if tenant is not None and tenant in secrets:
        return secrets[tenant]
    if tenant is None or tenant == LOOPBACK_TENANT:
        return secrets.get("default")
    return None


def retry_delay_s(attempt: int, base_s: float = 10.0) -> float:
    """How long after failed attempt number `attempt` (1-based) the next one is due."""
    step = _SCHEDULE[attempt - 1] if 1 <= attempt <= len(_SCHEDULE) else _LATER
    return step * base_s


def should_retry(status_code: int | None) -> bool:
    """Whether a failed delivery is tried again: no answer (timeout, refused), 5xx, 408 and 429
    yes; any other status no (a 4xx says the receiver will not take it; 3xx is not followed)."""
    if status_code is None:
        return True
    return status_code >= 500 or status_code in (408, 429)


def delivered(status_code: int | None) -> bool:
    return status_code is not None and 200 <= status_code < 300


def address_problem(ip: str, host: str, allow: list[str]) -> str | None:
    """Why a webhook may not go to `ip` (what `host` resolved to), or None. Private,
    link-local, shared, unspecified, multicast and reserved addresses are refused unless
    `allow` names the host or a network holding the address; loopback is allowed (the contract
    lets http reach a receiver on this machine)."""
    try:
        address: IpAddress = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return f"webhook_url host {host!r} resolved to {ip!r}, not an address"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback or _allowed(address, host, allow):
        return None
    kind = _kind(address)
    if kind is None:
        return None
    return (
        f"webhook_url host {host!r} is a {kind} address ({address}); an operator can allow it "
        "with CHORUS_WEBHOOK_ALLOW"
    )


def _kind(address: IpAddress) -> str | None:
    if address.is_unspecified:
        return "unspecified"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_reserved:
        return "reserved"
    if address.is_private or (
        isinstance(address, ipaddress.IPv4Address) and address in _SHARED_NET
    ):
        return "private"
    if not address.is_global:
        return "reserved"
    return None


_SHARED_NET = ipaddress.ip_network("100.64.0.0/10")


def _allowed(address: IpAddress, host: str, allow: list[str]) -> bool:
    for entry in allow:
        entry = entry.strip().lower()
        if entry and entry == host.lower():
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue  # a host name, compared above
    return False


def outbox_event(current: JobRecord, updated: JobRecord) -> str | None:
    """The webhook event a record change queues, if any: the job reached a final state, or
    (asked for with `webhook_on_review`) it now awaits review."""
    options = updated.request.options
    if options.webhook_url is None:
        return None
    if updated.status.is_final and not current.status.is_final:
        return EVENT_FINISHED
    if (
        options.webhook_on_review
        and updated.status is JobStatus.AWAITING_REVIEW
        and current.status is not JobStatus.AWAITING_REVIEW
    ):
        return EVENT_AWAITING_REVIEW
    return None


def outbox_member(job_id: str, event: str, run: int) -> str:
    """The outbox entry of one delivery: a job that ends again after a retry (a new run) gets
    one more delivery, the same end recorded twice does not."""
    return f"{job_id}\t{event}\t{run}"


def parse_member(member: str) -> tuple[str, str, int] | None:
    parts = member.split("\t")
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    return parts[0], parts[1], int(parts[2])


def run_number(record: JobRecord) -> int:
    return max(1, len(record.runs))


def payload(record: JobRecord, event: str) -> dict[str, Any]:
    """What a delivery carries: the record's summary, never its outputs, prompts or options."""
    return {
        "type": event,
        "job_id": record.job_id,
        "run": run_number(record),
        "created_at": _iso(record.created_at),
        "finished_at": _iso(record.finished_at),
        **job_ended(record),
        "error": record.error,
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def with_webhook_delivery(record: JobRecord, delivery: WebhookDelivery) -> JobRecord:
    """The record with one more delivery attempt logged (the newest few kept); its status and
    everything else stay as they are."""
    kept = [*record.webhook_deliveries, delivery][-MAX_DELIVERIES_KEPT:]
    return record.model_copy(update={"webhook_deliveries": kept})


def delivery_label(record: JobRecord, event: str) -> str:
    """What a logged attempt names as its event: the job's final status, or awaiting_review."""
    return (
        JobStatus.AWAITING_REVIEW.value if event == EVENT_AWAITING_REVIEW else record.status.value
    )


def attempts_so_far(record: JobRecord, label: str) -> tuple[int, datetime | None]:
    """How many attempts the current delivery of `label` has made, and when the first was:
    the attempts logged since the latest first attempt with that label (in this run: a retried
    job that ends the same way again starts a new delivery)."""
    since = record.runs[-1].started_at if record.runs else None
    mine = [
        d
        for d in record.webhook_deliveries
        if d.event == label and (since is None or d.at >= since)
    ]
    firsts = [i for i, d in enumerate(mine) if d.attempt == 1]
    if not firsts:
        return 0, None
    return len(mine) - firsts[-1], mine[firsts[-1]].at


def gives_up(first_attempt_at: datetime | None, now: datetime) -> bool:
    """Whether retrying stops: a day (`WEBHOOK_RETRY_FOR_S`) has passed since the first try."""
    if first_attempt_at is None:
        return False
    return (now - first_attempt_at).total_seconds() >= limits.WEBHOOK_RETRY_FOR_S
