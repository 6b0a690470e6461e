"""A streamed model call (worker and synthesis replies): the SDK's `messages.stream`, each text
delta handed to the caller as it arrives, the final message built by the SDK.

Two timeouts apply separately: httpx's read timeout bounds the gap between two chunks
(`model_idle_timeout_s`) and `ModelHttpClient`'s deadline the whole call (`stream_timeout_s`).
A stream that ends before `message_stop` (the connection cut, or an `error` event such as
`overloaded_error` mid-way) is a retryable failure: its partial text is never a reply.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import httpx2
from anthropic.types import Message

from chorus.errors import ModelCallError
from chorus.llm.errors import classify_model_error
from chorus.llm.transport import DeadlinePassed

# Error events a stream can end with that are worth another try (the rest are the request's).
RETRYABLE_STREAM_ERRORS = frozenset({"overloaded_error", "api_error", "rate_limit_error"})

TextSink = Callable[[str], None]


def stream_message(
    client: anthropic.Anthropic,
    on_text: TextSink | None,
    *,
    total_s: float,
    idle_s: float,
    **create: Any,
) -> Message:
    """The complete message of one streamed call; `on_text` sees each text delta in order.
    Raises ModelCallError."""
    try:
        with client.messages.stream(**create) as stream:
            stopped = False
            for event in stream:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    if on_text is not None:
                        on_text(event.delta.text)
                elif event.type == "message_stop":
                    stopped = True
            if not stopped:
                raise ModelCallError(
                    "the model's stream ended before its message was complete", retryable=True
                )
            return stream.get_final_message()
    except DeadlinePassed as exc:
        raise ModelCallError(
            f"timeout: no complete reply within {total_s:g}s", retryable=True
        ) from exc
    except httpx2.TimeoutException as exc:
        raise ModelCallError(
            f"timeout: the model's stream was silent for {idle_s:g}s", retryable=True
        ) from exc
    except httpx2.TransportError as exc:
        raise ModelCallError(
            "the model's stream was cut before its message was complete", retryable=True
        ) from exc
    except anthropic.APIStatusError as exc:
        if exc.status_code < 400:  # an `error` event inside a 200 stream
            raise stream_error(exc) from exc
        raise classify_model_error(exc, timeout_s=idle_s) from exc
    except anthropic.AnthropicError as exc:
        raise classify_model_error(exc, timeout_s=idle_s) from exc


def stream_error(exc: anthropic.APIStatusError) -> ModelCallError:
    """An `error` event mid-stream, by its type: overload and server errors are retried."""
    body = exc.body if isinstance(exc.body, dict) else {}
    found = body.get("error")
    detail: dict[str, Any] = found if isinstance(found, dict) else {}
    kind = str(detail.get("type") or "api_error")
    message = str(detail.get("message") or "")[:200]
    return ModelCallError(
        f"the model's stream ended with {kind}: {message}".rstrip(": "),
        retryable=kind in RETRYABLE_STREAM_ERRORS,
    )
