"""The HTTP client under the SDK, where the model boundary is held: a call ends within its
deadline, and a successful reply reaches the SDK only if it is a Messages response.

httpx's timeouts bound each read, not the call: a server sending one byte every few seconds
would keep a call (and its worker thread) alive for ever. And the SDK hands a 2xx body that is
not a message on as a bare string or a half-built model, which fails later as an
`AttributeError` far from the cause; here it becomes the SDK's own
`APIResponseValidationError`, which `chorus.llm.errors` classifies as retryable.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2

from chorus.llm.lanes import RequestLanes

MESSAGES_PATH = "/v1/messages"

# The SDK's limits, except that every connection is kept alive between calls (the SDK keeps
# 100 of its 1,000): a worker holding 1,000 calls would otherwise open 900 connections, each
# with its TLS handshake, for every 1,000 calls. Idle ones still close after the expiry.
KEEP_EVERY_CONNECTION = httpx2.Limits(
    max_connections=anthropic.DEFAULT_CONNECTION_LIMITS.max_connections,
    max_keepalive_connections=anthropic.DEFAULT_CONNECTION_LIMITS.max_connections,
    keepalive_expiry=anthropic.DEFAULT_CONNECTION_LIMITS.keepalive_expiry,
)


class ModelHttpClient(anthropic.DefaultHttpxClient):
    """The SDK's default client (its pool limits, keep-alive and proxy settings) with a
    wall-clock deadline of `total_s` per request. Until the headers arrive httpx's timeouts
    apply (connect, each write and each read within `total_s`); the reply's body, which a slow
    server can trickle for ever, must be complete by the deadline, checked as each chunk
    arrives, so a trickle ends at the first chunk past it."""

    def __init__(self, total_s: float, transport: httpx2.BaseTransport | None = None) -> None:
        if transport is None:
            # Mounted for every URL rather than passed as `transport`, so the SDK still builds
            # its proxy mounts from the environment (a proxy's pattern is more specific).
            lanes = RequestLanes(KEEP_EVERY_CONNECTION)
            super().__init__(timeout=httpx2.Timeout(total_s), mounts={"all://": lanes})
        else:  # the SDK's defaults build their own transport only when none is given
            super().__init__(timeout=httpx2.Timeout(total_s), transport=transport)
        self.total_s = total_s

    def send(
        self, request: httpx2.Request, *, stream: bool = False, **kwargs: Any
    ) -> httpx2.Response:
        deadline = time.monotonic() + self.total_s
        response = super().send(request, stream=True, **kwargs)
        assert isinstance(response.stream, httpx2.SyncByteStream)
        response.stream = _Deadline(response.stream, deadline, self.total_s)
        replied = response.is_success and request.url.path.endswith(MESSAGES_PATH)
        if stream and (not replied or _is_event_stream(response)):
            return response
        try:
            response.read()
        except BaseException:
            response.close()
            raise
        if replied and (stream or not is_message(response.content)):
            # Not a message, or a streamed call answered with no server-sent events.
            # An SDK error passes through its client unwrapped, to `classify_model_error`.
            raise anthropic.APIResponseValidationError(response, None)
        return response


class DeadlinePassed(httpx2.ReadTimeout):
    """The whole call outlived its deadline (a ReadTimeout, so the SDK reports it as
    APITimeoutError), told apart from httpx's own read timeout, a gap between two chunks."""


def _is_event_stream(response: httpx2.Response) -> bool:
    return response.headers.get("content-type", "").split(";")[0].strip() == "text/event-stream"


class _Deadline(httpx2.SyncByteStream):
    def __init__(self, inner: httpx2.SyncByteStream, deadline: float, total_s: float) -> None:
        self._inner = inner
        self._deadline = deadline
        self._total_s = total_s

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            if time.monotonic() > self._deadline:
                raise DeadlinePassed(f"no complete reply within {self._total_s:g}s")
            yield chunk

    def close(self) -> None:
        self._inner.close()


def is_message(body: bytes) -> bool:
    """Whether `body` has what Chorus reads from a Messages response: typed content blocks
    (text blocks with their text) and the token counts."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past Python's limit
        return False
    if not isinstance(data, dict) or data.get("type") != "message":
        return False
    blocks, usage = data.get("content"), data.get("usage")
    return (
        isinstance(blocks, list)
        and all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in blocks)
        and all(isinstance(b.get("text"), str) for b in blocks if b["type"] == "text")
        and isinstance(usage, dict)
        and all(type(usage.get(k)) is int for k in ("input_tokens", "output_tokens"))
    )
