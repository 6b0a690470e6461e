"""Every retry decision of Chorus and its schedule, in one place: pure, so unit-tested alone.

Task logic asks for a retry by raising `RetryLater(countdown)`; the countdown always comes
from one of these functions.
"""

from __future__ import annotations

import random
from typing import Protocol

from chorus.contract import limits


class RetrySettings(Protocol):
    @property
    def max_attempts(self) -> int: ...
    @property
    def retry_base_s(self) -> float: ...
    @property
    def retry_max_s(self) -> float: ...
    @property
    def model_timeout_s(self) -> float: ...
    @property
    def stream_timeout_s(self) -> float: ...
    @property
    def heartbeat_ttl_s(self) -> float: ...
    @property
    def heartbeat_interval_s(self) -> float: ...


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


def next_retry_delay_s(
    retryable: bool, retry_after_s: float | None, attempt: int, settings: RetrySettings
) -> float | None:
    """A failed model call (planning, subtask, synthesis): the countdown before the next
    attempt, or None when the failure is final (permanent, or attempts used up)."""
    if not retryable or attempt >= settings.max_attempts:
        return None
    return backoff_delay_s(
        attempt,
        base_s=settings.retry_base_s,
        cap_s=settings.retry_max_s,
        retry_after_s=retry_after_s,
    )


def throttled_delay_s(wait_s: float, rng: random.Random | None = None) -> float:
    """A subtask over the fleet's rate limit goes back on the queue for the limiter's wait plus
    up to half a second, so the re-queued calls do not all arrive at once. Costs no attempt."""
    return wait_s + (rng or random).uniform(0, 0.5)


def internal_error_delay_s(retries: int, settings: RetrySettings) -> float | None:
    """An unexpected error in the planning step (a Redis blip, a bug): try again soon, a
    redelivery resumes where it stopped; None once attempts are used up (the job then fails
    on record rather than hang)."""
    if retries + 1 >= settings.max_attempts:
        return None
    return 1.0 + retries


def gather_recheck_delay_s(retries: int) -> float:
    """A gather step that finds results missing (the chord counted a redelivered part twice,
    which only happens after a crash or hand-back) looks again after 1, 2, 4, 8 s, then every
    15 s."""
    delay: float = limits.GATHER_RECHECK_FIRST_S * 2.0**retries
    return min(delay, limits.GATHER_RECHECK_MAX_S)


def gather_waited_s(retries: int) -> float:
    """How long a gather step has waited for stragglers after `retries` rechecks."""
    return sum(gather_recheck_delay_s(n) for n in range(retries))


def straggler_wait_s(settings: RetrySettings) -> float:
    """How long a subtask can legitimately still take: every attempt timing out, the longest
    backoff between them, and a dead worker's messages being handed back. A gather step waits
    this long for missing results before it marks them failed."""
    attempts = settings.max_attempts
    # Worker and synthesis calls stream: each attempt may last the whole stream timeout.
    call_s = max(settings.model_timeout_s, settings.stream_timeout_s)
    return (
        call_s * attempts
        + settings.retry_max_s * (attempts - 1)
        + settings.heartbeat_ttl_s
        + 2 * settings.heartbeat_interval_s
    )


# Another gather task holds the job's synthesis claim: look again at the longest recheck.
SYNTHESIS_CLAIM_BUSY_S = limits.GATHER_RECHECK_MAX_S


def store_unavailable_delay_s(rng: random.Random | None = None) -> float:
    """A subtask that could not read the job's state before its call (Redis away or refusing
    writes) comes back in 2 to 5 s: no call was made, so it costs no attempt."""
    return 2.0 + (rng or random).uniform(0, 3.0)


def next_save_pause_s(pause_s: float) -> float:
    """Between tries at storing a reply: 1, 2, 4, 8, then every 10 s."""
    return min(pause_s * 2, 10.0)


# A worker stops trying to store a reply this long before its message's visibility timeout,
# so kombu never restores the message (which would call the model again) while it still tries.
VISIBILITY_MARGIN_S = 60.0


def planning_claim_ttl_s(settings: RetrySettings, *, rounds: int, throttle_s: float) -> float:
    """How long a delivery of `run_job` holds a job's planning claim: each round of its
    planning call (a repair round included) waiting out the rate limit and then timing out,
    plus the longest wait before its own retry renews the claim. The holder's retries and
    redeliveries carry the claim, so it lapses only when the holder's message is gone."""
    return rounds * (settings.model_timeout_s + throttle_s) + settings.retry_max_s + 1


# Another delivery of the job holds its planning claim: look again soon, planning is quick.
PLANNING_CLAIM_BUSY_S = 1.0
