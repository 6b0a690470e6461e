"""Reading a streamed Messages reply without the SDK's per-event models: SSE framing in any
chunking and line ending, and the message built from its events as the SDK would build it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chorus.llm.sse import EventReader, MessageBuilder, StreamErrorEvent, StreamFormatError


def frame(kind: str, data: dict[str, Any], newline: str = "\n") -> bytes:
    body = json.dumps({"type": kind, **data})
    return f"event: {kind}{newline}data: {body}{newline}{newline}".encode()


START: dict[str, Any] = {
    "message": {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 7, "output_tokens": 1, "cache_read_input_tokens": 3},
    }
}


def block(index: int, **content: Any) -> bytes:
    return frame("content_block_start", {"index": index, "content_block": content})


def delta(index: int, **change: Any) -> bytes:
    return frame("content_block_delta", {"index": index, "delta": change})


def ending(stop: str, output_tokens: int, newline: str = "\n") -> bytes:
    usage = {"output_tokens": output_tokens}
    end = {"delta": {"stop_reason": stop, "stop_sequence": None}, "usage": usage}
    return frame("message_delta", end, newline) + frame("message_stop", {}, newline)


def text_reply(newline: str = "\n") -> bytes:
    pieces = [
        frame("message_start", START, newline),
        block(0, type="text", text=""),
        b": keep-alive comment\n\n",
        frame("ping", {}),
        delta(0, type="text_delta", text="Hel"),
        delta(0, type="text_delta", text="lo"),
        frame("content_block_stop", {"index": 0}),
    ]
    body = b"".join(pieces).replace(b"\n", newline.encode())
    return body + ending("max_tokens", 12, newline)


def read(stream: bytes, size: int) -> tuple[MessageBuilder, list[str]]:
    reader, builder, texts = EventReader(), MessageBuilder(), []
    for at in range(0, len(stream), size):
        for name, data in reader.feed(stream[at : at + size]):
            if (text := builder.apply(name, data)) is not None:
                texts.append(text)
    return builder, texts


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("size", [1, 2, 7, 10_000])
def test_any_chunking_and_line_ending_reads_the_same_message(newline: str, size: int) -> None:
    builder, texts = read(text_reply(newline), size)
    assert texts == ["Hel", "lo"] and builder.stopped
    message = builder.message()
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "Hello"  # type: ignore[union-attr]
    assert message.stop_reason == "max_tokens"
    # The delta's cumulative output count replaces the start's; the rest of the start stays.
    assert message.usage.output_tokens == 12 and message.usage.input_tokens == 7
    assert message.usage.cache_read_input_tokens == 3


def test_multi_line_data_is_joined_and_an_event_without_data_is_skipped() -> None:
    reader = EventReader()
    assert reader.feed(b'event: x\ndata: {"a":\ndata: 1}\n\nevent: only-a-name\n\n') == [
        ("x", b'{"a":\n1}')
    ]


def test_a_stream_without_message_stop_is_not_stopped() -> None:
    builder, _ = read(text_reply().rsplit(b"event: message_stop", 1)[0], 64)
    assert not builder.stopped


def test_an_error_event_carries_its_body() -> None:
    error = {"error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(StreamErrorEvent) as caught:
        read(frame("message_start", START) + frame("error", error), 5)
    assert caught.value.body["error"]["type"] == "overloaded_error"


@pytest.mark.parametrize(
    "stream",
    [
        b"event: message_start\ndata: {not json\n\n",
        b"data: [1, 2]\n\n",
        delta(0, type="text_delta", text="x"),
        frame("message_start", START) + delta(4, type="text_delta", text="x"),
        frame("message_start", {"message": "not an object"}),
    ],
    ids=["not-json", "not-an-object", "delta-before-start", "unknown-block", "bad-start"],
)
def test_a_stream_that_is_not_a_messages_reply_is_a_format_error(stream: bytes) -> None:
    with pytest.raises(StreamFormatError):
        read(stream, 3)


def test_thinking_and_tool_input_blocks_are_assembled_like_the_sdk() -> None:
    events = [
        frame("message_start", START),
        block(0, type="thinking", thinking="", signature=""),
        delta(0, type="thinking_delta", thinking="hm"),
        delta(0, type="signature_delta", signature="sig"),
        block(1, type="tool_use", id="t1", name="f", input={}),
        delta(1, type="input_json_delta", partial_json='{"q": '),
        delta(1, type="input_json_delta", partial_json="1}"),
        ending("tool_use", 4),
    ]
    builder, texts = read(b"".join(events), 11)
    message = builder.message()
    assert texts == [] and message.stop_reason == "tool_use"
    thinking, tool = message.content
    assert thinking.type == "thinking" and thinking.thinking == "hm" and thinking.signature == "sig"
    assert tool.type == "tool_use" and tool.input == {"q": 1}


def test_a_message_that_breaks_the_sdk_model_fails_validation_once_at_the_end() -> None:
    broken = {"message": {**START["message"], "role": None}}
    builder, _ = read(frame("message_start", broken) + frame("message_stop", {}), 50)
    with pytest.raises(ValueError):
        builder.message()
