"""A message sent as the Messages API streams it (`stream: true`): server-sent events from
`message_start` to `message_stop`, the text in `content_block_delta` pieces at a token rate,
and the mid-stream faults a real stream can have: a connection cut, or an `error` event."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi.responses import StreamingResponse

# A piece is a word with the whitespace before it: the pieces join back into the text.
_PIECE_START = re.compile(r"(?<=\s)(?=\S)")
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


class StreamCut(Exception):
    """Raised inside the body to drop the connection with no end to its chunked body, as a
    proxy or a network failure does; uvicorn closes the socket without the final chunk."""


def pieces(text: str) -> list[str]:
    return [p for p in _PIECE_START.split(text) if p]


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps({'type': event, **data})}\n\n".encode()


def _start(body: dict[str, Any]) -> dict[str, Any]:
    """The message as `message_start` carries it: no content yet, input usage only."""
    usage = dict(body["usage"]) | {"output_tokens": 1}
    head = {k: v for k, v in body.items() if k not in ("content", "usage")}
    return head | {"content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}


def events(
    body: dict[str, Any],
    *,
    first_s: float,
    gap_s: float,
    cut_after: int | None = None,
    error_after: int | None = None,
    on_first_text: Callable[[float], None] | None = None,
    on_start: Callable[[], None] | None = None,
    sleep: Callable[[float], Any] = asyncio.sleep,
) -> AsyncIterator[bytes]:
    """The stream of `body` (a complete message): `first_s` before the first text piece,
    `gap_s` between pieces. With `cut_after` or `error_after`, that many pieces are sent,
    then the connection is cut (StreamCut) or an overloaded `error` event ends the stream.
    `on_start` runs once `message_start` is out (the response has begun)."""

    async def generate() -> AsyncIterator[bytes]:
        yield sse("message_start", {"message": _start(body)})
        if on_start is not None:
            on_start()
        await sleep(first_s)
        sent = 0
        for i, block in enumerate(body["content"]):
            if block.get("type") == "text":
                yield sse(
                    "content_block_start",
                    {"index": i, "content_block": {"type": "text", "text": ""}},
                )
                for piece in pieces(block["text"]):
                    if cut_after is not None and sent >= cut_after:
                        raise StreamCut
                    if error_after is not None and sent >= error_after:
                        yield sse("error", {k: v for k, v in OVERLOADED.items() if k != "type"})
                        return
                    if sent > 0:
                        await sleep(gap_s)
                    elif on_first_text is not None:
                        on_first_text(time.time())
                    delta = {"type": "text_delta", "text": piece}
                    yield sse("content_block_delta", {"index": i, "delta": delta})
                    sent += 1
            else:  # a tool call: its input as one JSON piece, as the API sends it in parts
                start = {k: v for k, v in block.items() if k != "input"} | {"input": {}}
                yield sse("content_block_start", {"index": i, "content_block": start})
                partial = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
                yield sse("content_block_delta", {"index": i, "delta": partial})
            yield sse("content_block_stop", {"index": i})
        if cut_after is not None:
            raise StreamCut  # fewer pieces than asked for: cut before the end all the same
        if error_after is not None:
            yield sse("error", {k: v for k, v in OVERLOADED.items() if k != "type"})
            return
        stop = {"stop_reason": body["stop_reason"], "stop_sequence": None}
        usage = {"output_tokens": body["usage"]["output_tokens"]}
        yield sse("message_delta", {"delta": stop, "usage": usage})
        yield sse("message_stop", {})

    return generate()


def piece_timing(
    body: dict[str, Any], total_s: float, base_s: float, tokens_per_s: float | None
) -> tuple[float, float]:
    """(time to the first piece, gap between pieces). A token rate sets the gap; without one
    the reply takes `total_s` as a non-streamed one would, the generation time spread over
    its pieces after `base_s`."""
    count = sum(len(pieces(b["text"])) for b in body["content"] if b.get("type") == "text")
    if tokens_per_s is not None:
        return base_s, 1.0 / tokens_per_s
    return base_s, max(0.0, total_s - base_s) / max(1, count - 1)


class HeldStream(StreamingResponse):
    """A streamed reply: the call stays in flight (the stats, `finished_at`) until its last
    event is sent, it is cut, or the client leaves, not when its headers go out."""


def streamed(
    events_iter: AsyncIterator[bytes], headers: dict[str, str], on_end: Callable[[], None]
) -> HeldStream:
    async def until_end() -> AsyncIterator[bytes]:
        try:
            async for chunk in events_iter:
                yield chunk
        finally:
            on_end()

    return HeldStream(until_end(), media_type="text/event-stream", headers=headers)


def dripped(inner: AsyncIterator[bytes], every_s: float) -> AsyncIterator[bytes]:
    """The stream's bytes one at a time, like a stalled proxy, at `every_s` per byte of what
    the same reply sent whole (`trickled`) would carry: the message's metadata
    (`message_start`) and the model's text, each other event counting one byte. So a
    streamed reply trickles about as long as a whole one, although its event framing is
    several times the size of its text."""

    async def drip() -> AsyncIterator[bytes]:
        async for chunk in inner:
            pause = every_s * _weight(chunk) / max(1, len(chunk))
            for i in range(len(chunk)):
                yield chunk[i : i + 1]
                await asyncio.sleep(pause)

    return drip()


def _weight(chunk: bytes) -> int:
    """The bytes one event stands for in a whole reply: a `text_delta`'s text, all of
    `message_start` (the message's metadata), one for any other event."""
    if chunk.startswith(b"event: message_start"):
        return len(chunk)
    if b'"text_delta"' not in chunk:
        return 1
    try:
        data = json.loads(chunk.split(b"\ndata: ", 1)[1])
        return max(1, len(str(data["delta"]["text"]).encode()))
    except (IndexError, KeyError, TypeError, ValueError):
        return 1
