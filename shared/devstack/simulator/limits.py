"""Per-model rate limits like the real API's: requests, input tokens and output tokens per
rolling 60 s window. A call over a limit gets a 429 rate_limit_error with `retry-after`; every
reply for a limited model carries the `anthropic-ratelimit-*` headers.

A request is admitted if one more request and its input tokens fit, and output tokens are not
already spent: like the real API, output is counted as it is produced (recorded at the end of
the call), so a call is refused only once earlier calls have used the output budget up.
Pure apart from the injected clock: tests step the clock instead of sleeping.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chorus.devstack.simulator.config import ModelLimits

WINDOW_S = 60.0

# Header name part, the ModelLimits field, and the error message's unit, per dimension.
_DIMENSIONS = (
    ("requests", "requests_per_minute", "requests"),
    ("input-tokens", "input_tokens_per_minute", "input tokens"),
    ("output-tokens", "output_tokens_per_minute", "output tokens"),
)


@dataclass
class _Use:
    at: float
    amounts: list[int]  # requests, input tokens, output tokens


@dataclass(frozen=True)
class Decision:
    allowed: bool
    headers: dict[str, str] = field(default_factory=dict)
    message: str = ""


def _rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


class RateLimits:
    def __init__(
        self, limits: dict[str, ModelLimits], clock: Callable[[], float] = time.time
    ) -> None:
        self.clock = clock
        self.replace(limits)

    def replace(self, limits: dict[str, ModelLimits]) -> None:
        self.limits = dict(limits)
        self._uses: dict[str, deque[_Use]] = {}

    def _window(self, model: str, now: float) -> deque[_Use]:
        uses = self._uses.setdefault(model, deque())
        while uses and uses[0].at <= now - WINDOW_S:
            uses.popleft()
        return uses

    def _free_at(self, uses: deque[_Use], dim: int, need: int, limit: int, now: float) -> float:
        """When the window will have room for `need` more of dimension `dim`."""
        used = sum(u.amounts[dim] for u in uses)
        for use in uses:  # oldest first: each expiry frees its share
            if used + need <= limit:
                break
            used -= use.amounts[dim]
            now = use.at + WINDOW_S
        return now

    def _headers(self, model: str, now: float) -> dict[str, str]:
        limits, uses = self.limits[model], self._window(model, now)
        headers: dict[str, str] = {}
        for dim, (name, attr, _) in enumerate(_DIMENSIONS):
            limit = getattr(limits, attr)
            if limit is None:
                continue
            used = sum(u.amounts[dim] for u in uses)
            # When the window is fully replenished: the newest use that counts has expired.
            counted = [u.at for u in uses if u.amounts[dim]]
            reset = max(counted) + WINDOW_S if counted else now
            headers[f"anthropic-ratelimit-{name}-limit"] = str(limit)
            headers[f"anthropic-ratelimit-{name}-remaining"] = str(max(0, limit - used))
            headers[f"anthropic-ratelimit-{name}-reset"] = _rfc3339(reset)
        return headers

    def admit(self, model: str, input_tokens: int) -> Decision:
        """Count the request if it fits; else say how long until it would."""
        if model not in self.limits:
            return Decision(allowed=True)
        now = self.clock()
        limits, uses = self.limits[model], self._window(model, now)
        needs = (1, input_tokens, 1)  # output: at least one token of budget left
        for dim, (_, attr, unit) in enumerate(_DIMENSIONS):
            limit = getattr(limits, attr)
            if limit is None:
                continue
            if needs[dim] > limit:
                wait = WINDOW_S  # can never fit; the real API still answers 429
            else:
                wait = self._free_at(uses, dim, needs[dim], limit, now) - now
            if wait > 0:
                headers = self._headers(model, now)
                headers["retry-after"] = str(max(1, math.ceil(wait)))
                message = (
                    f"This request would exceed the rate limit for {model} of {limit} {unit} "
                    f"per minute. Retry after {headers['retry-after']} seconds."
                )
                return Decision(allowed=False, headers=headers, message=message)
        uses.append(_Use(now, [1, input_tokens, 0]))
        return Decision(allowed=True, headers=self._headers(model, now))

    def record_output(self, model: str, output_tokens: int) -> dict[str, str]:
        """Count a reply's output tokens; the headers that reply carries."""
        if model not in self.limits:
            return {}
        now = self.clock()
        self._window(model, now).append(_Use(now, [0, 0, output_tokens]))
        return self._headers(model, now)
