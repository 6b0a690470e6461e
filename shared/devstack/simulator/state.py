"""What one simulator process holds between requests: its fault plan, prompt cache, latency
and rate-limit models, and the counters `/_simulator/stats` and `/_simulator/requests` show."""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from chorus.devstack.simulator.batches import BatchBook
from chorus.devstack.simulator.cache import PromptCache
from chorus.devstack.simulator.config import SimulatorConfig
from chorus.devstack.simulator.faults import FaultPlan
from chorus.devstack.simulator.latency import LatencyModel
from chorus.devstack.simulator.limits import RateLimits

RECENT_REQUESTS = 500

TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


class SimulatorState:
    def __init__(
        self, config: SimulatorConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self.faults = FaultPlan(config.fail_every, config.fail_status)
        self.cache = PromptCache(config.cache_min_tokens, config.cache_min_tokens_by_model, clock)
        self.latency = LatencyModel(config)
        self.limits = RateLimits(config.rate_limits)
        self.reset()

    def reset(self) -> None:
        self.faults.replace([], self.config.fail_every, self.config.fail_status)
        self.cache.clear()
        self.latency.reseed()
        self.limits.replace(self.config.rate_limits)
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        # Per model, so a benchmark can count worker calls held at once apart from planning.
        self.in_flight_by_model: Counter[str] = Counter()
        self.max_in_flight_by_model: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()
        self.by_model: Counter[str] = Counter()
        self.tokens: Counter[str] = Counter()
        # Requests that wrote (read) any cache tokens, per model: how many parallel calls
        # paid for the same entry, and how many shared it.
        self.cache_writes_by_model: Counter[str] = Counter()
        self.cache_reads_by_model: Counter[str] = Counter()
        self.request_times: deque[float] = deque(maxlen=10_000)
        self.request_times_by_model: dict[str, deque[float]] = {}
        # What the model was sent and when it answered, on this process's clock (time.time()),
        # for tests that check where a template put the task or order events by these times.
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_REQUESTS)
        self.batches = BatchBook(self.config)  # in memory: a reset forgets every batch

    def count(self, model: str, started_at: float) -> None:
        """One model call made (a plain call or a batch's request), for the stats."""
        self.calls += 1
        self.request_times.append(started_at)
        by_model = self.request_times_by_model.setdefault(model, deque(maxlen=10_000))
        by_model.append(started_at)
        self.by_model[model] += 1

    def enter(self, model: str) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.in_flight_by_model[model] += 1
        held = self.in_flight_by_model[model]
        self.max_in_flight_by_model[model] = max(self.max_in_flight_by_model[model], held)

    def leave(self, model: str) -> None:
        self.in_flight -= 1
        self.in_flight_by_model[model] -= 1

    def count_usage(self, model: str, usage: dict[str, Any], seen: dict[str, Any]) -> None:
        """Adds a reply's usage to the totals and to its `/_simulator/requests` entry."""
        for name in TOKEN_FIELDS:
            self.tokens[name] += usage[name]
        seen["usage"] = {name: usage[name] for name in TOKEN_FIELDS}
        if usage["cache_creation_input_tokens"]:
            self.cache_writes_by_model[model] += 1
        if usage["cache_read_input_tokens"]:
            self.cache_reads_by_model[model] += 1

    def stats(self) -> dict[str, Any]:
        return {
            "requests_total": self.calls,
            "responses_by_status": dict(self.by_status),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "max_in_flight_by_model": dict(self.max_in_flight_by_model),
            "requests_by_model": dict(self.by_model),
            "request_times": list(self.request_times),
            "request_times_by_model": {m: list(t) for m, t in self.request_times_by_model.items()},
            "cache_writes_by_model": dict(self.cache_writes_by_model),
            "cache_reads_by_model": dict(self.cache_reads_by_model),
            **{k: self.tokens[k] for k in TOKEN_FIELDS},
            **self.batches.stats(),
        }
