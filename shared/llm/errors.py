"""The one place that sorts model-call failures into retryable and permanent.

Everything that talks to the anthropic SDK converts its exceptions here, so retry decisions
are made on `ModelCallError.retryable` and never on SDK classes scattered through the code.
"""

from __future__ import annotations

import email.utils
import time
from datetime import datetime

import anthropic
import httpx2
import pydantic

from chorus.errors import ModelCallError

# Statuses worth another try: throttling, overload and server-side failures.
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})

# A reply that is not a message fits on one log line: status, content type, its first bytes.
INVALID_RESPONSE_MAX_CHARS = 80


def classify_model_error(exc: Exception, *, timeout_s: float | None = None) -> ModelCallError:
    """Translate an SDK exception into a ModelCallError with a clear, secret-free message.
    `timeout_s` is the call's deadline, named in a timeout's message."""
    if isinstance(exc, ModelCallError):
        return exc
    if isinstance(exc, anthropic.APITimeoutError):
        within = f"within {timeout_s:g}s" if timeout_s is not None else "in time"
        return ModelCallError(f"timeout: no complete reply {within}", retryable=True)
    if isinstance(exc, anthropic.APIResponseValidationError):
        # A proxy's error page or a half-broken endpoint: often gone on the next try.
        return invalid_response(exc.response)
    if isinstance(exc, anthropic.APIConnectionError):
        return ModelCallError("could not connect to the model endpoint", retryable=True)
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        detail = _error_detail(exc)
        retryable = status in RETRYABLE_STATUSES or status >= 500
        return ModelCallError(
            f"model endpoint answered {status}: {detail}",
            retryable=retryable,
            status=status,
            retry_after_s=_retry_after(exc) if retryable else None,
        )
    return ModelCallError(f"model call failed: {type(exc).__name__}", retryable=False)


def brief(exc: pydantic.ValidationError, whole: str = "plan") -> str:
    """A validation error in one line: how many, and the first one's place and message."""
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or whole
    return f"{exc.error_count()} error(s); first at {where}: {first['msg']}"


def invalid_response(response: httpx2.Response) -> ModelCallError:
    """`invalid_response: 200 text/html: '<html>…'`, at most about 80 printable characters."""
    kind = response.headers.get("content-type", "").split(";")[0].strip()[:24]
    prefix = f"invalid_response: {response.status_code} {_printable(kind) or 'no content-type'}: "
    try:
        head = _printable(response.content[:200].decode("utf-8", "replace"))
    except httpx2.ResponseNotRead:
        head = ""
    room = max(16, INVALID_RESPONSE_MAX_CHARS - len(prefix) - 2)
    if len(head) > room:
        head = head[: room - 1] + "…"
    return ModelCallError(prefix + repr(head), retryable=True, status=response.status_code)


def _printable(text: str) -> str:
    """One line: whitespace runs become one space, other control characters `?`."""
    return "".join(c if c.isprintable() else "?" for c in " ".join(text.split()))


def _error_detail(exc: anthropic.APIStatusError) -> str:
    return (exc.api_message or exc.message)[:500]


def _retry_after(exc: anthropic.APIStatusError) -> float | None:
    """Seconds the server asked us to wait, from `retry-after` or a rate-limit reset header."""
    headers = exc.response.headers
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value)
            return max(0.0, parsed.timestamp() - time.time())
    resets = [
        v for k, v in headers.items() if k.startswith("anthropic-ratelimit-") and "reset" in k
    ]
    waits = []
    for reset in resets:
        try:
            waits.append(datetime.fromisoformat(reset).timestamp() - time.time())
        except ValueError:
            continue
    return max(0.0, max(waits)) if waits else None
