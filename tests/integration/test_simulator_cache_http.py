"""The simulator's prompt cache through the official SDK over HTTP: an entry is usable only
once the response that writes it has begun, so calls sent together all pay the write."""

from __future__ import annotations

import concurrent.futures
from typing import Literal

import anthropic
from anthropic.types import CacheControlEphemeralParam, TextBlockParam, Usage

from tests.support.simulator_control import SimulatorControl

MODEL = "claude-sonnet-5-5"  # caches prefixes of 1024 tokens and more
SHARED = 1500  # "shared " * n is n tokens


def sdk(sim: SimulatorControl) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="test", base_url=sim.url, max_retries=0, timeout=30)


def system(ttl: Literal["5m", "1h"] = "5m") -> list[TextBlockParam]:
    control: CacheControlEphemeralParam = {"type": "ephemeral", "ttl": ttl}
    return [{"type": "text", "text": "shared " * SHARED, "cache_control": control}]


def plain_call(client: anthropic.Anthropic, question: str) -> Usage:
    return client.messages.create(
        model=MODEL,
        max_tokens=50,
        system=system(),
        messages=[{"role": "user", "content": question}],
    ).usage


def test_a_call_after_the_writers_first_event_reads_the_entry(sim: SimulatorControl) -> None:
    client = sdk(sim)
    with client.messages.stream(
        model=MODEL,
        max_tokens=50,
        system=system("1h"),
        messages=[{"role": "user", "content": "first"}],
    ) as stream:
        first_event = next(iter(stream))
        assert first_event.type == "message_start"
        written = first_event.message.usage
        assert written.cache_creation_input_tokens == SHARED
        assert written.cache_creation is not None
        assert written.cache_creation.ephemeral_1h_input_tokens == SHARED
        # The writer's response has begun (the stream is still open): the entry is usable.
        read = plain_call(client, "second")
        stream.until_done()
    assert (read.cache_read_input_tokens, read.cache_creation_input_tokens) == (SHARED, 0)
    seen = [r["usage"] for r in sim.requests()]
    assert [u["cache_read_input_tokens"] for u in seen] == [0, SHARED]
    assert sim.stats()["cache_reads_by_model"] == {MODEL: 1}


def test_calls_sent_together_each_write_the_entry(sim: SimulatorControl) -> None:
    client = sdk(sim)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        usages = list(pool.map(lambda q: plain_call(client, q), ["one", "two"]))
    # Each arrived while the other's response (200 ms away) had not begun: two writes.
    assert [u.cache_creation_input_tokens for u in usages] == [SHARED, SHARED]
    assert [u.cache_read_input_tokens for u in usages] == [0, 0]
    stats = sim.stats()
    assert stats["cache_writes_by_model"] == {MODEL: 2}
    assert stats.get("cache_reads_by_model") == {}
    assert plain_call(client, "three").cache_read_input_tokens == SHARED
