"""The one place that sorts model-call failures into retryable and permanent.

Everything that talks to the anthropic SDK converts its exceptions here, so retry decisions
are made on `ModelCallError.retryable` and never on SDK classes scattered through the code.
"""

from __future__ import annotations

import email.utils
import time
from datetime import datetime

import anthropic

from chorus.errors import ModelCallError

# Statuses worth another try: throttling, overload and server-side failures.
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def classify_model_error(exc: Exception) -> ModelCallError:
    """Translate an SDK exception into a ModelCallError with a clear, secret-free message."""
    if isinstance(exc, ModelCallError):
        return exc
    if isinstance(exc, anthropic.APITimeoutError):
        return ModelCallError("model call timed out", retryable=True)
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
