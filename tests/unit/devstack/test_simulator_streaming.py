"""The simulator's streamed replies: framed as the Messages API streams (the SDK's own stream
reader rebuilds the message), paced as configured, and cut or failed mid-way on a fault."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import httpx2
import pydantic
import pytest

from chorus.devstack.simulator import streaming
from chorus.devstack.simulator.faults import FaultPlan, FaultRule

TEXT = "The insulated bottle keeps water cold for a day, and it fits a bike's bottle cage."
BODY: dict[str, Any] = {
    "id": "msg_sim_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-haiku-5-5",
    "content": [{"type": "text", "text": TEXT}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 12,
        "output_tokens": 20,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    },
}


def collect(**options: Any) -> tuple[list[bytes], list[float]]:
    """The stream's chunks, and every pause it asked for (none is slept)."""
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    async def run() -> list[bytes]:
        chunks = []
        stream = streaming.events(BODY, first_s=0.5, gap_s=0.01, sleep=pause, **options)
        try:
            async for chunk in stream:
                chunks.append(chunk)
        except streaming.StreamCut:
            chunks.append(b"<cut>")
        return chunks

    return asyncio.run(run()), pauses


def sdk_over(raw: bytes) -> anthropic.Anthropic:
    def handler(_: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=raw)

    return anthropic.Anthropic(
        api_key="k",
        base_url="http://sim.test",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )


def stream_with_sdk(raw: bytes) -> tuple[list[str], anthropic.types.Message]:
    client = sdk_over(raw)
    with client.messages.stream(
        model="claude-haiku-5-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        texts = [
            e.delta.text
            for e in stream
            if e.type == "content_block_delta" and e.delta.type == "text_delta"
        ]
        return texts, stream.get_final_message()


def test_the_sdk_rebuilds_the_message_from_the_stream_and_its_pieces_join_into_the_text() -> None:
    chunks, pauses = collect()
    texts, message = stream_with_sdk(b"".join(chunks))
    assert "".join(texts) == TEXT and len(texts) == len(TEXT.split())
    assert message.content[0].type == "text" and message.content[0].text == TEXT
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 20)
    assert pauses == [0.5] + [0.01] * (len(texts) - 1)  # first token, then one gap per piece
    kinds = [c.split(b"\n", 1)[0].decode() for c in chunks]
    first = ["event: message_start", "event: content_block_start", "event: content_block_delta"]
    assert kinds[:3] == first
    assert kinds[-3:] == [
        "event: content_block_stop",
        "event: message_delta",
        "event: message_stop",
    ]


def test_a_cut_stream_ends_after_the_given_pieces_without_message_stop() -> None:
    chunks, _ = collect(cut_after=3)
    assert chunks[-1] == b"<cut>"
    deltas = [c for c in chunks if c.startswith(b"event: content_block_delta")]
    assert len(deltas) == 3
    assert not any(c.startswith(b"event: message_stop") for c in chunks)


def test_an_error_event_mid_stream_is_an_overloaded_error_the_sdk_raises() -> None:
    chunks, _ = collect(error_after=2)
    assert chunks[-1].startswith(b"event: error\n")
    data = json.loads(chunks[-1].split(b"data: ", 1)[1])
    assert data == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(anthropic.APIStatusError) as caught:
        stream_with_sdk(b"".join(chunks))
    assert "overloaded_error" in str(caught.value)


def test_pacing_a_token_rate_sets_the_gap_and_no_rate_spreads_the_latency() -> None:
    pieces = len(TEXT.split())
    assert streaming.piece_timing(BODY, 2.0, 0.5, 50.0) == (0.5, 0.02)
    first, gap = streaming.piece_timing(BODY, 2.0, 0.5, None)
    assert first == 0.5 and gap * (pieces - 1) == pytest.approx(1.5)


def test_mid_stream_faults_are_rule_effects_of_their_own() -> None:
    plan = FaultPlan()
    plan.replace(
        [
            FaultRule(match="a", cut_after_tokens=5, times=1),
            FaultRule(match="b", error_after_tokens=0),
        ],
        None,
        None,
    )
    first = plan.decide(1, "a")
    assert first is not None and first.cut_after_tokens == 5 and first.status is None
    assert plan.decide(2, "a") is None  # times=1
    second = plan.decide(3, "b")
    assert second is not None and second.error_after_tokens == 0
    with pytest.raises(pydantic.ValidationError, match="exactly one of"):
        FaultRule(match="a", cut_after_tokens=5, status=529)
    with pytest.raises(pydantic.ValidationError):
        FaultRule(match="a", cut_after_tokens=-1)
