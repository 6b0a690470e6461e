"""Backoff arithmetic for Celery retries of model calls: pure, so it is unit-tested alone."""

import random


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
