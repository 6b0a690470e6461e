"""The realistic parts of the simulator: seeded latency percentiles, replies cut off at
max_tokens, per-model rate limits on an injected clock, and the token estimate."""

from __future__ import annotations

import json
import statistics
from datetime import datetime
from typing import Any

import pytest
from anthropic.lib._parse._transform import transform_schema

from chorus.contract.plans import PlanDraft
from chorus.devstack.simulator.config import ModelLimits, SimulatorConfig
from chorus.devstack.simulator.generation import estimate_tokens
from chorus.devstack.simulator.latency import LatencyModel
from chorus.devstack.simulator.limits import RateLimits
from chorus.devstack.simulator.replies import answer, output_tokens
from chorus.devstack.simulator.validation import MessagesRequest

MODEL = "claude-haiku-5-5"


def request(max_tokens: int, **fields: Any) -> MessagesRequest:
    messages = [{"role": "user", "content": "Pitch a reading app to teenagers"}]
    return MessagesRequest.model_validate(
        {"model": MODEL, "max_tokens": max_tokens, "messages": messages} | fields
    )


def test_latency_draws_match_the_configured_median_and_99th_percentile() -> None:
    model = LatencyModel(SimulatorConfig(latency_ms=1000, latency_p99_ms=4000, seed=7))
    draws = sorted(model.base_ms() for _ in range(20_000))
    assert statistics.median(draws) == pytest.approx(1000, rel=0.05)
    assert draws[int(0.99 * len(draws))] == pytest.approx(4000, rel=0.1)


def test_the_same_seed_repeats_the_same_latencies_after_a_reseed() -> None:
    model = LatencyModel(SimulatorConfig(latency_ms=100, latency_p99_ms=400, seed=3))
    first = [model.base_ms() for _ in range(5)]
    model.reseed()
    assert [model.base_ms() for _ in range(5)] == first
    other = LatencyModel(SimulatorConfig(latency_ms=100, latency_p99_ms=400, seed=4))
    assert [other.base_ms() for _ in range(5)] != first


def test_without_a_p99_latency_is_the_fixed_median_plus_time_per_output_token() -> None:
    model = LatencyModel(SimulatorConfig(latency_ms=200, ms_per_output_token=2))
    assert {model.base_ms() for _ in range(10)} == {200}
    assert model.total_ms(50) == 300
    assert LatencyModel(SimulatorConfig()).total_ms(1000) == 0  # the fast default


def test_the_realistic_profile_has_a_four_times_tail_and_long_replies() -> None:
    config = SimulatorConfig.realistic(seed=1)
    assert (config.latency_ms, config.latency_p99_ms) == (1000, 4000)
    assert config.ms_per_output_token > 0 and config.reply_tokens_max
    assert SimulatorConfig.for_profile("realistic", latency_ms=None, seed=5).latency_ms == 1000
    assert SimulatorConfig.for_profile("default", latency_ms=None) == SimulatorConfig()
    with pytest.raises(ValueError, match="at least latency_ms"):
        SimulatorConfig(latency_ms=100, latency_p99_ms=50)


def test_a_long_text_reply_is_cut_at_max_tokens_with_stop_reason_max_tokens() -> None:
    config = SimulatorConfig(reply_tokens_max=3000)
    prompts = [f"Pitch a reading app, variant {i}" for i in range(40)]
    outcomes = [
        answer(config, request(300, messages=[{"role": "user", "content": p}]), p) for p in prompts
    ]
    cut = [o for o in outcomes if o["stop_reason"] == "max_tokens"]
    whole = [o for o in outcomes if o["stop_reason"] == "end_turn"]
    assert cut and whole  # lengths vary with the prompt: some run past max_tokens, some not
    for reply in cut:
        assert estimate_tokens(reply["content"][0]["text"]) <= 300
        assert output_tokens(reply, 300) == 300
    assert all(output_tokens(o, 300) < 300 for o in whole)


def test_a_default_short_reply_is_cut_only_by_a_small_max_tokens() -> None:
    assert answer(SimulatorConfig(), request(1024), "x")["stop_reason"] == "end_turn"
    reply = answer(SimulatorConfig(), request(5), "Pitch a reading app to teenagers")
    assert reply["stop_reason"] == "max_tokens"
    assert estimate_tokens(reply["content"][0]["text"]) <= 5


def test_a_json_schema_reply_longer_than_max_tokens_is_truncated_json() -> None:
    schema = transform_schema(PlanDraft.model_json_schema())
    fmt = {"output_config": {"format": {"type": "json_schema", "schema": schema}}}
    whole = answer(SimulatorConfig(), request(2048, **fmt), "Plan at most 4 subtasks.")
    assert whole["stop_reason"] == "end_turn"
    PlanDraft.model_validate_json(whole["content"][0]["text"])
    cut = answer(SimulatorConfig(), request(40, **fmt), "Plan at most 4 subtasks.")
    assert cut["stop_reason"] == "max_tokens"
    text = cut["content"][0]["text"]
    assert whole["content"][0]["text"].startswith(text) and estimate_tokens(text) <= 40
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_a_forced_tool_call_past_max_tokens_stops_with_max_tokens_and_a_partial_input() -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "essay": {"type": "string", "minLength": 800}},
    }
    tools = {"tools": [{"name": "f", "input_schema": schema}]}
    choice = {"tool_choice": {"type": "tool", "name": "f"}}
    whole = answer(SimulatorConfig(), request(2000, **tools, **choice), "Lyon")
    assert whole["stop_reason"] == "tool_use" and set(whole["content"][0]["input"]) == {
        "city",
        "essay",
    }
    cut = answer(SimulatorConfig(), request(100, **tools, **choice), "Lyon")
    block = cut["content"][0]
    assert cut["stop_reason"] == "max_tokens" and block["type"] == "tool_use"
    assert set(block["input"]) == {"city"}  # the essay did not fit


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_requests_over_the_per_minute_limit_get_429_with_retry_after_until_the_window_moves() -> (
    None
):
    clock = Clock()
    limits = RateLimits({MODEL: ModelLimits(requests_per_minute=2)}, clock=clock)
    first = limits.admit(MODEL, 10)
    assert first.allowed and first.headers["anthropic-ratelimit-requests-remaining"] == "1"
    assert first.headers["anthropic-ratelimit-requests-limit"] == "2"
    clock.now += 20
    assert limits.admit(MODEL, 10).allowed
    clock.now += 10
    refused = limits.admit(MODEL, 10)
    assert not refused.allowed
    assert refused.headers["retry-after"] == "30"  # the first request leaves the window at +60
    assert refused.headers["anthropic-ratelimit-requests-remaining"] == "0"
    reset = datetime.fromisoformat(refused.headers["anthropic-ratelimit-requests-reset"])
    assert reset.timestamp() == clock.now - 10 + 60  # full again when the newest expires
    assert "2 requests per minute" in refused.message
    clock.now += 30
    assert limits.admit(MODEL, 10).allowed
    clock.now += 61  # everything has left the window: the full budget again
    assert limits.admit(MODEL, 10).headers["anthropic-ratelimit-requests-remaining"] == "1"
    unlimited = limits.admit("claude-other", 10)  # no limit configured: no headers
    assert unlimited.allowed and unlimited.headers == {}


def test_input_and_output_token_limits_refuse_once_the_minute_is_spent() -> None:
    clock = Clock()
    budget = ModelLimits(input_tokens_per_minute=100, output_tokens_per_minute=50)
    limits = RateLimits({MODEL: budget}, clock=clock)
    assert limits.admit(MODEL, 60).allowed
    over = limits.admit(MODEL, 60)
    assert not over.allowed and "100 input tokens per minute" in over.message
    assert over.headers["anthropic-ratelimit-input-tokens-remaining"] == "40"
    assert limits.admit(MODEL, 40).allowed
    clock.now += 1
    headers = limits.record_output(MODEL, 50)
    assert headers["anthropic-ratelimit-output-tokens-remaining"] == "0"
    clock.now += 59  # the input has left the window; the output leaves one second later
    spent = limits.admit(MODEL, 1)
    assert not spent.allowed and spent.headers["retry-after"] == "1"
    assert "50 output tokens per minute" in spent.message
    clock.now += 1
    assert limits.admit(MODEL, 1).allowed


def test_the_estimate_counts_words_digits_and_punctuation() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("hi") == 1
    assert estimate_tokens("Hello, world!") == 4
    assert estimate_tokens("internationalisation") == 3  # 20 letters: 7 per token
    assert estimate_tokens("2026") == 2
    assert estimate_tokens('{"a": 1}') == 7  # { " a " : 1 }
    prose = "The quick brown fox jumps over the lazy dog near the riverbank today. " * 20
    words = len(prose.split())
    assert 1.0 * words <= estimate_tokens(prose) <= 1.5 * words


def test_prefill_adds_time_to_the_first_token_for_input_the_cache_did_not_serve() -> None:
    model = LatencyModel(SimulatorConfig(latency_ms=300, ms_per_input_token=0.05))
    assert model.base_ms() == 300
    assert model.base_ms(20_000) == pytest.approx(1300)  # a 20,000-token prompt read afresh
    assert model.total_ms(10, 20_000) == pytest.approx(1300)  # no generation time configured
