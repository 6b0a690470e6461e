"""How long a simulated call takes: a log-normal draw given its median and 99th percentile,
plus reading the input not served from the prompt cache (prefill, before the first token),
plus generation time per output token. Pure: the caller sleeps."""

from __future__ import annotations

import math
import random

from chorus.devstack.simulator.config import SimulatorConfig

# The standard normal's 99th percentile: log-latency's p99 sits this many sigmas above its p50.
Z_99 = 2.3263478740408408


class LatencyModel:
    """One seeded random.Random, so a run with the same seed and request order repeats."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)

    def reseed(self) -> None:
        self.rng.seed(self.config.seed)

    def base_ms(self, uncached_input_tokens: int = 0) -> float:
        """Time to the first token: the fixed median, or a log-normal draw around it, plus
        the prefill of the input tokens the cache did not serve (a cache read is what makes
        a long prompt's first token come sooner)."""
        prefill = self.config.ms_per_input_token * uncached_input_tokens
        p50, p99 = self.config.latency_ms, self.config.latency_p99_ms
        if p50 <= 0 or p99 is None or p99 <= p50:
            return p50 + prefill
        sigma = (math.log(p99) - math.log(p50)) / Z_99
        return self.rng.lognormvariate(math.log(p50), sigma) + prefill

    def total_ms(self, output_tokens: int, uncached_input_tokens: int = 0) -> float:
        generation = self.config.ms_per_output_token * output_tokens
        return self.base_ms(uncached_input_tokens) + generation
