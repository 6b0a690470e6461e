"""Settings of one simulator process.

The defaults keep tests fast and repeatable: no latency, short replies, no rate limits. The
`realistic` profile is for benchmarks: latency with a long tail that grows with the reply,
replies of varied length that can outrun `max_tokens`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, PositiveInt, model_validator

PROFILES = ("default", "realistic")
Profile = Literal["default", "realistic"]

# Exact names besides the "claude-" prefix that the tests and examples send to the simulator.
TEST_MODELS = ("m", "o", "w", "orch-model", "worker-model", "big-model")

# The smallest prefix each model caches (Anthropic's documented minimums), by name prefix, the
# longest match winning; any other model gets `cache_min_tokens`. The simulator's own table,
# so it tells Chorus the truth rather than echoing Chorus's guess.
CACHE_MIN_TOKENS_BY_MODEL = {
    "claude-opus": 4096,
    "claude-haiku": 4096,
    "claude-haiku-3": 2048,
    "claude-sonnet": 1024,
}


class ModelLimits(BaseModel):
    """One model's budget per rolling minute; None leaves that dimension unlimited."""

    requests_per_minute: int | None = Field(default=None, ge=1)
    input_tokens_per_minute: int | None = Field(default=None, ge=1)
    output_tokens_per_minute: int | None = Field(default=None, ge=1)


class SimulatorConfig(BaseModel):
    # The median call latency; with no latency_p99_ms, every call takes exactly this long.
    latency_ms: float = Field(default=0, ge=0)
    # With it, latency is log-normal with this 99th percentile (the real API's long tail).
    latency_p99_ms: float | None = Field(default=None, ge=0)
    # Generation time on top, per output token of the reply.
    ms_per_output_token: float = Field(default=0, ge=0)
    # Prefill: time to the first token grows by this per input token not read from the cache.
    ms_per_input_token: float = Field(default=0, ge=0)
    # A streamed reply (`stream: true`) sends its text at this many pieces (about a word
    # each) per second; None spreads the generation time above over the pieces, so a streamed
    # call takes as long as a plain one.
    stream_tokens_per_s: float | None = Field(default=None, gt=0)
    # Seeds the latency draws: the same seed and arrival order give the same latencies.
    seed: int = 0
    # None: text replies of four or five sentences. Else a length up to this many tokens,
    # drawn from the prompt, so some replies run past max_tokens and are cut off there.
    reply_tokens_max: int | None = Field(default=None, ge=1)
    fail_every: int = Field(default=0, ge=0)
    fail_status: int = Field(default=529, ge=400, le=599)
    api_key: str | None = None
    cache_min_tokens: int = Field(default=1024, ge=1)
    cache_min_tokens_by_model: dict[str, PositiveInt] = Field(
        default_factory=lambda: dict(CACHE_MIN_TOKENS_BY_MODEL)
    )
    # Items in a generated plan (capped by the request's limit); None varies it by prompt.
    plan_size: int | None = Field(default=None, ge=1, le=20)
    # A model is known if its name starts with one of the prefixes or is one of the names;
    # any other gets the real API's 404 not_found_error.
    model_prefixes: list[str] = Field(default_factory=lambda: ["claude-"])
    models: list[str] = Field(default_factory=lambda: list(TEST_MODELS))
    rate_limits: dict[str, ModelLimits] = Field(default_factory=dict)
    # Message Batches: each request of a batch is done this long after the batch was created
    # (plus up to 20% seeded jitter); a batch still processing this long after its creation
    # expires (None: the real API's 24 hours). Both changeable at run time: PUT /_simulator/batches.
    batch_delay_s: float = Field(default=1.0, ge=0)
    batch_expire_after_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _tail_above_median(self) -> SimulatorConfig:
        if self.latency_p99_ms is not None and self.latency_p99_ms < self.latency_ms:
            raise ValueError("latency_p99_ms must be at least latency_ms (the median)")
        return self

    def knows_model(self, name: str) -> bool:
        return name in self.models or any(name.startswith(p) for p in self.model_prefixes)

    @classmethod
    def realistic(cls, **overrides: Any) -> SimulatorConfig:
        """About what a hosted model does: a median second, a 4x tail at p99, 10 ms per
        output token (100 tokens/s), replies up to 1400 tokens (some past 1024)."""
        preset: dict[str, Any] = {
            "latency_ms": 1000.0,
            "latency_p99_ms": 4000.0,
            "ms_per_output_token": 10.0,
            "reply_tokens_max": 1400,
        }
        return cls.model_validate(preset | overrides)

    @classmethod
    def for_profile(cls, profile: Profile, **options: Any) -> SimulatorConfig:
        """A profile's settings with each option that is not None on top (the CLIs' flags)."""
        given = {k: v for k, v in options.items() if v is not None}
        return cls.realistic(**given) if profile == "realistic" else cls.model_validate(given)
