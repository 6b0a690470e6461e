"""The simulator's prompt cache follows the Messages API's rules: per model, per exact prefix
and output format, a minimum size per model, usable only once the writer's response has
begun, a TTL refreshed by reads, at most 4 breakpoints. Driven with a fake clock: no sleeps."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import httpx2

from chorus.contract.models import JobRequest
from chorus.contract.plans import PlanDraft
from chorus.core import prompts
from chorus.devstack.simulator.app import reply
from chorus.devstack.simulator.cache import PromptCache
from chorus.devstack.simulator.config import SimulatorConfig
from chorus.devstack.simulator.replies import answer, request_text
from chorus.devstack.simulator.state import SimulatorState
from chorus.devstack.simulator.validation import MessagesRequest, Refusal, validate_request

WORDS = 2000  # "shared " * n is n tokens


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def marked(words: int = WORDS, ttl: str | None = None, text: str = "shared ") -> dict[str, Any]:
    control = {"type": "ephemeral"} | ({"ttl": ttl} if ttl else {})
    return {"type": "text", "text": text * words, "cache_control": control}


def request(model: str = "m", words: int = WORDS, **extra: Any) -> dict[str, Any]:
    body = {"model": model, "max_tokens": 50, "system": [marked(words)]}
    return body | {"messages": [{"role": "user", "content": "hi"}]} | extra


def cache(clock: Clock | None = None) -> PromptCache:
    config = SimulatorConfig()
    return PromptCache(config.cache_min_tokens, config.cache_min_tokens_by_model, clock or Clock())


def written_then_read(c: PromptCache, first: dict[str, Any], second: dict[str, Any]) -> int:
    """Writes `first`'s entry (its reply begins), then what `second` reads."""
    c.begin(c.account(first))
    return c.account(second).usage.cache_read_input_tokens


def test_a_prefix_under_the_models_minimum_is_never_cached() -> None:
    c = cache()
    for model, words in (("claude-haiku-4-5", 3000), ("claude-opus-4-1", 4000), ("m", 1000)):
        usage = c.account(request(model, words)).usage
        assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (0, 0)
        assert usage.input_tokens == words + 1
    # Over the minimum: haiku-3 needs 2048, sonnet and unknown models 1024, haiku 4096.
    for model, words in (("claude-haiku-3-5", 3000), ("claude-sonnet-4-5", 1100), ("m", 1100)):
        assert c.account(request(model, words)).usage.cache_creation_input_tokens == words
    assert c.account(request("claude-haiku-4-5", 4100)).usage.cache_creation_input_tokens == 4100


def test_calls_arriving_before_the_writer_began_all_write() -> None:
    c = cache()
    first, second = c.account(request()), c.account(request())
    assert first.usage.cache_creation_input_tokens == second.usage.cache_creation_input_tokens
    assert first.usage.cache_read_input_tokens == second.usage.cache_read_input_tokens == 0
    c.begin(first)
    third = c.account(request()).usage
    assert (third.cache_read_input_tokens, third.cache_creation_input_tokens) == (WORDS, 0)
    assert third.input_tokens == 1


def test_an_entry_expires_five_minutes_after_its_last_use_and_a_read_refreshes_it() -> None:
    clock = Clock()
    c = cache(clock)
    c.begin(c.account(request()))
    clock.now += 299
    assert c.account(request()).usage.cache_read_input_tokens == WORDS  # refreshed to +300
    clock.now += 299
    assert c.account(request()).usage.cache_read_input_tokens == WORDS
    clock.now += 301
    assert c.account(request()).usage.cache_creation_input_tokens == WORDS


def test_a_one_hour_entry_outlives_five_minutes() -> None:
    clock = Clock()
    c = cache(clock)
    hour = request(system=[marked(ttl="1h")])
    charge = c.account(hour)
    assert charge.usage.ephemeral_1h_input_tokens == WORDS
    assert charge.usage.ephemeral_5m_input_tokens == 0
    c.begin(charge)
    clock.now += 3000
    # The same prefix marked 5m is the same entry: the read keeps the later expiry.
    assert c.account(request()).usage.cache_read_input_tokens == WORDS
    clock.now += 599
    assert c.account(hour).usage.cache_read_input_tokens == WORDS
    clock.now += 3601
    assert c.account(hour).usage.cache_read_input_tokens == 0


def test_the_output_format_and_the_model_are_part_of_the_key() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    formatted = request(output_config={"format": {"type": "json_schema", "schema": schema}})
    assert written_then_read(cache(), request(), formatted) == 0
    assert written_then_read(cache(), formatted, formatted) == WORDS
    assert written_then_read(cache(), request("m"), request("o")) == 0
    assert written_then_read(cache(), request("o"), request("o")) == WORDS


def test_a_failed_writer_never_makes_its_entry_usable() -> None:
    state = SimulatorState(SimulatorConfig(), Clock())
    state.faults.replace([], 1, 529)
    failed = asyncio.run(call(state, request()))
    assert failed.status_code == 529
    state.faults.replace([], 0, 529)
    first, second = (json.loads(asyncio.run(call(state, request())).body) for _ in range(2))
    assert first["usage"]["cache_creation_input_tokens"] == WORDS  # the 529 wrote nothing
    assert second["usage"]["cache_read_input_tokens"] == WORDS


def test_several_breakpoints_read_the_longest_usable_prefix_and_write_the_rest() -> None:
    c = cache()
    question = {"role": "user", "content": [marked(1500, text="detail ")]}
    first = c.account(request(system=[marked(ttl="1h")], messages=[question])).usage
    assert first.cache_creation_input_tokens == WORDS + 1500
    assert (first.ephemeral_1h_input_tokens, first.ephemeral_5m_input_tokens) == (WORDS, 1500)
    c.begin(c.account(request(system=[marked(ttl="1h")], messages=[question])))
    other = {"role": "user", "content": [marked(1200, text="other ")]}
    second = c.account(request(system=[marked(ttl="1h")], messages=[other])).usage
    assert (second.cache_read_input_tokens, second.cache_creation_input_tokens) == (WORDS, 1200)
    assert (second.ephemeral_1h_input_tokens, second.ephemeral_5m_input_tokens) == (0, 1200)
    assert second.input_tokens == 0


def refusal(body: dict[str, Any]) -> str:
    result = validate_request(json.dumps(body).encode(), SimulatorConfig())
    assert isinstance(result, Refusal) and result.status == 400
    return result.message


def test_a_fifth_breakpoint_or_a_bad_marker_is_refused() -> None:
    five = request(system=[marked(10) for _ in range(5)])
    assert refusal(five) == ("A maximum of 4 blocks with cache_control may be provided. Found 5.")
    assert refusal(request(system=[marked(10, ttl="2h")])) == (
        "system.0.cache_control.ttl: Input should be '5m' or '1h'"
    )
    wrong_type = {"type": "text", "text": "x", "cache_control": {"type": "persistent"}}
    assert "cache_control.type" in refusal(request(system=[wrong_type]))
    four = request(system=[marked(10) for _ in range(4)])
    assert isinstance(
        validate_request(json.dumps(four).encode(), SimulatorConfig()), MessagesRequest
    )


async def call(state: SimulatorState, body: dict[str, Any]) -> Any:
    """The app's reply to `body`, its `/_simulator/requests` entry kept in `state.recent`."""
    parsed = MessagesRequest.model_validate(body)
    seen: dict[str, Any] = {}
    state.recent.append(seen)
    return await reply(state, parsed, request_text(parsed), seen)


def test_usage_has_the_ttl_breakdown_the_sdk_reads_plain_and_streamed() -> None:
    state = SimulatorState(SimulatorConfig(), Clock())
    hour = request(system=[marked(ttl="1h")])
    first, second = (json.loads(asyncio.run(call(state, hour)).body)["usage"] for _ in range(2))
    assert first["cache_creation"] == {
        "ephemeral_5m_input_tokens": 0,
        "ephemeral_1h_input_tokens": WORDS,
    }
    assert second["cache_read_input_tokens"] == WORDS
    assert second["cache_creation"]["ephemeral_1h_input_tokens"] == 0

    async def streamed() -> bytes:
        response = await call(state, request("o", system=[marked(ttl="1h")], stream=True))
        return b"".join([chunk async for chunk in response.body_iterator])

    message = sdk_stream(asyncio.run(streamed()))
    assert message.usage.cache_creation is not None
    assert message.usage.cache_creation.ephemeral_1h_input_tokens == WORDS
    assert message.usage.cache_creation_input_tokens == WORDS
    stats = state.stats()
    assert stats["cache_writes_by_model"] == {"m": 1, "o": 1}
    assert stats["cache_reads_by_model"] == {"m": 1}
    seen = [entry["usage"] for entry in state.recent]  # what /_simulator/requests shows
    assert seen[0]["cache_creation_input_tokens"] == seen[1]["cache_read_input_tokens"] == WORDS


def test_a_streamed_writer_makes_its_entry_usable_at_message_start() -> None:
    state = SimulatorState(SimulatorConfig(), Clock())
    streamed = request(stream=True)

    async def run() -> tuple[int, int]:
        writer = await call(state, streamed)
        early = json.loads((await call(state, request())).body)["usage"]
        chunks = writer.body_iterator
        await chunks.__anext__()  # message_start
        await chunks.__anext__()  # the generator runs on: the reply has begun
        late = json.loads((await call(state, request())).body)["usage"]
        await chunks.aclose()
        return early["cache_read_input_tokens"], late["cache_read_input_tokens"]

    assert asyncio.run(run()) == (0, WORDS)


def sdk_stream(raw: bytes) -> anthropic.types.Message:
    def handler(_: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=raw)

    client = anthropic.Anthropic(
        api_key="k",
        base_url="http://sim.test",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    with client.messages.stream(
        model="o", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        return stream.get_final_message()


def test_a_plan_asked_for_in_the_prompt_is_json_matching_its_schema() -> None:
    job = JobRequest(task="Write ads for a bakery")
    schema = PlanDraft.model_json_schema()
    messages = prompts.planning_messages(job, schema=schema)
    body = {"model": "m", "max_tokens": 2000, "messages": messages}
    parsed = MessagesRequest.model_validate(body)
    message = answer(SimulatorConfig(), parsed, request_text(parsed))
    assert message["stop_reason"] == "end_turn"
    PlanDraft.model_validate_json(message["content"][0]["text"])
    # Without the element the reply is prose as before.
    plain = MessagesRequest.model_validate(body | {"messages": [{"role": "user", "content": "hi"}]})
    text = answer(SimulatorConfig(), plain, "hi")["content"][0]["text"]
    assert not text.lstrip().startswith("{")
