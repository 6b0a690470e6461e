"""Rate limits as configured and what one call costs against them: pure, no Redis."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, Field


class RateLimit(BaseModel):
    """An account tier's limits for one model, per window (60 s unless configured)."""

    requests: int | None = Field(default=None, ge=1)
    input_tokens: int | None = Field(default=None, ge=1)
    output_tokens: int | None = Field(default=None, ge=1)


@dataclass(frozen=True)
class CallCost:
    input_tokens: int
    output_tokens: int  # the call's max_tokens: what the API reserves up front


def estimate_input_tokens(*texts: str) -> int:
    """A cheap upper-bound guess before the call (about 4 characters a token)."""
    return max(1, sum(len(t) for t in texts) // 3)


class Limiter(Protocol):
    def try_acquire(self, model: str, cost: CallCost) -> float:
        """Record the call if every limit has room and return 0; else the seconds to wait."""
        ...


def wait_for_slot(
    limiter: Limiter,
    model: str,
    cost: CallCost,
    *,
    max_sleep_s: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Take a slot, sleeping through short waits. Returns 0 once the call may go, or the
    wait left when it is long: the caller re-queues the task with that countdown, so a
    throttled task holds no worker slot."""
    slept = 0.0
    while True:
        wait = limiter.try_acquire(model, cost)
        if wait <= 0:
            return 0.0
        if slept + wait > max_sleep_s:
            return wait
        sleep(wait)
        slept += wait
