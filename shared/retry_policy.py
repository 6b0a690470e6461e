"""Backoff arithmetic for Celery retries of model calls: pure, so it is unit-tested alone."""

import random
from typing import Protocol


def backoff_delay_s(
    attempt: int,
    *,
    base_s: float,
    cap_s: float,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Delay before attempt `attempt + 1`, with exponential backoff and full jitter.

    Full jitter spreads a fleet's retries over the window instead of synchronising them into
    another burst; a server's `retry-after` is a floor, never shortened by the jitter.
    """
    window = min(cap_s, base_s * (2 ** max(0, attempt - 1)))
    delay = (rng or random).uniform(0, window)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, cap_s))
    return delay


class RetrySettings(Protocol):
    @property
    def max_attempts(self) -> int: ...
    @property
    def retry_base_s(self) -> float: ...
    @property
    def retry_max_s(self) -> float: ...


def next_retry_delay_s(
    retryable: bool, retry_after_s: float | None, attempt: int, settings: RetrySettings
) -> float | None:
    """The countdown before the next attempt, or None when the failure is final
    (permanent, or attempts used up)."""
    if not retryable or attempt >= settings.max_attempts:
        return None
    return backoff_delay_s(
        attempt,
        base_s=settings.retry_base_s,
        cap_s=settings.retry_max_s,
        retry_after_s=retry_after_s,
    )
