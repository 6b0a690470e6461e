"""The HTTP client under the SDK, driven through the SDK itself over an in-process transport."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import pytest

from chorus.llm.errors import classify_model_error
from chorus.llm.transport import ModelHttpClient, is_message

MESSAGE: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "m",
    "content": [{"type": "text", "text": "hello"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 3, "output_tokens": 1},
}


class Drip(httpx2.SyncByteStream):
    """A body arriving one byte every `every_s` seconds."""

    def __init__(self, body: bytes, every_s: float) -> None:
        self.body, self.every_s = body, every_s

    def __iter__(self) -> Iterator[bytes]:
        for i in range(len(self.body)):
            time.sleep(self.every_s)  # the slow body under test, not a wait for anything
            yield self.body[i : i + 1]


def sdk(response: httpx2.Response, total_s: float = 5) -> anthropic.Anthropic:
    transport = httpx2.MockTransport(lambda _: response)
    return anthropic.Anthropic(
        api_key="k",
        base_url="http://model.test",
        max_retries=0,
        http_client=ModelHttpClient(total_s, transport=transport),
    )


def call(client: anthropic.Anthropic) -> anthropic.types.Message:
    return client.messages.create(
        model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    )


def test_a_message_passes_through() -> None:
    assert call(sdk(httpx2.Response(200, json=MESSAGE))).content[0].type == "text"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html><body>oops</body></html>", "text/html"),
        (b'{"hello": "world"}', "application/json"),
        (b'{"type": "message", "content": [', "application/json"),
        (b"", "application/json"),
    ],
)
def test_a_2xx_that_is_not_a_message_is_an_invalid_response(body: bytes, content_type: str) -> None:
    response = httpx2.Response(200, headers={"content-type": content_type}, content=body)
    with pytest.raises(anthropic.APIResponseValidationError) as caught:
        call(sdk(response))
    error = classify_model_error(caught.value)
    assert error.retryable and error.message.startswith(f"invalid_response: 200 {content_type}")


def test_a_trickled_body_ends_at_the_deadline_not_at_a_read_timeout() -> None:
    body = json.dumps(MESSAGE).encode()
    started = time.monotonic()
    with pytest.raises(anthropic.APITimeoutError) as caught:
        call(sdk(httpx2.Response(200, stream=Drip(body, 0.05)), total_s=0.3))
    assert time.monotonic() - started < 1
    error = classify_model_error(caught.value, timeout_s=0.3)
    assert error.retryable and error.message == "timeout: no complete reply within 0.3s"


@pytest.mark.parametrize(
    "changes",
    [
        {"type": "error"},
        {"content": "hello"},
        {"content": [{"text": "no type"}]},
        {"content": [{"type": "text"}]},
        {"content": [{"type": "text", "text": 7}]},
        {"usage": None},
        {"usage": {"input_tokens": "3", "output_tokens": 1}},
    ],
)
def test_is_message_wants_typed_blocks_and_token_counts(changes: dict[str, Any]) -> None:
    assert is_message(json.dumps(MESSAGE).encode())
    assert not is_message(json.dumps({**MESSAGE, **changes}).encode())


def test_is_message_survives_hostile_bodies() -> None:
    assert not is_message(b"[" * 100_000 + b"]" * 100_000)
    assert not is_message(b"\xff\xfe\x00garbage")
    assert not is_message(b"[]")
