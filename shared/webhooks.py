"""Verify a Chorus webhook on the receiving side, with nothing but the standard library:

    import chorus.webhooks

    chorus.webhooks.verify(request_body, request.headers["Chorus-Signature"], secret)

`Chorus-Signature: t=<unix seconds>,v1=<hex>` where v1 is HMAC-SHA256 under the tenant's
secret of `"<t>." + body` (the raw bytes received). Several `v1=` values may appear while a
secret is being rotated; one match is enough. A timestamp more than `tolerance_s` from now is
refused, so a captured delivery cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from chorus.errors import WebhookSignatureError

__all__ = ["DEFAULT_TOLERANCE_S", "WebhookSignatureError", "verify", "verify_webhook"]

DEFAULT_TOLERANCE_S = 300


def verify(
    body: bytes,
    header: str,
    secret: str | list[str],
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> None:
    """Return if `header` signs `body` under `secret` (or one of several, during a rotation)
    within `tolerance_s` of `now`; raise `WebhookSignatureError` saying why not otherwise."""
    timestamp, signatures = _parse(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise WebhookSignatureError(
            f"timestamp {timestamp} is {abs(current - timestamp):.0f}s from now "
            f"(tolerance {tolerance_s:.0f}s): an old or replayed delivery"
        )
    secrets = [secret] if isinstance(secret, str) else list(secret)
    signed = f"{timestamp}.".encode() + body
    for key in secrets:
        expected = hmac.new(key.encode(), signed, hashlib.sha256).hexdigest()
        # compare_digest over every candidate: no early exit that times the first match.
        if any(hmac.compare_digest(expected, given) for given in signatures):
            return
    raise WebhookSignatureError("no v1 signature matches the body under the secret")


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in (header or "").split(","):
        key, eq, value = part.strip().partition("=")
        if not eq:
            raise WebhookSignatureError(f"malformed Chorus-Signature part {part.strip()!r}")
        if key == "t":
            if not value.isdigit():
                raise WebhookSignatureError("malformed Chorus-Signature: t is not a number")
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None:
        raise WebhookSignatureError("malformed Chorus-Signature: no t= timestamp")
    if not signatures:
        raise WebhookSignatureError("malformed Chorus-Signature: no v1= signature")
    return timestamp, signatures


# As exported from the package: `chorus.verify_webhook(body, header, secret)`.
verify_webhook = verify
