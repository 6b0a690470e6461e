"""A streamed model call (worker and synthesis replies): the SDK makes the request
(`stream=True`), `chorus.llm.sse` reads its events, each text delta is handed to the caller as
it arrives and the final message is built once.

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
import pydantic
from anthropic.types import Message

from chorus.errors import ModelCallError
from chorus.llm.errors import brief, classify_model_error
from chorus.llm.sse import EventReader, MessageBuilder, StreamErrorEvent, StreamFormatError
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
        with client.messages.with_streaming_response.create(stream=True, **create) as response:
            reader, builder = EventReader(), MessageBuilder()
            # Read to the end, past message_stop: a body left unread closes the connection.
            for chunk in response.iter_bytes():
                for name, data in reader.feed(chunk):
                    text = builder.apply(name, data)
                    if text is not None and on_text is not None:
                        on_text(text)
            if not builder.stopped:
                raise ModelCallError(
                    "the model's stream ended before its message was complete", retryable=True
                )
            return builder.message()
    except StreamErrorEvent as exc:
        raise stream_error(exc.body) from exc
    except StreamFormatError as exc:
        raise ModelCallError(
            f"invalid_response: a stream that is not a Messages reply ({exc})", retryable=True
        ) from exc
    except pydantic.ValidationError as exc:
        raise ModelCallError(
            f"invalid_response: a streamed message that is not valid ({brief(exc, 'message')})",
            retryable=True,
        ) from exc
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
    except anthropic.AnthropicError as exc:
        raise classify_model_error(exc, timeout_s=idle_s) from exc


def stream_error(body: dict[str, Any]) -> ModelCallError:
    """An `error` event mid-stream, by its type: overload and server errors are retried."""
    found = body.get("error")
    detail: dict[str, Any] = found if isinstance(found, dict) else {}
    kind = str(detail.get("type") or "api_error")
    message = str(detail.get("message") or "")[:200]
    return ModelCallError(
        f"the model's stream ended with {kind}: {message}".rstrip(": "),
        retryable=kind in RETRYABLE_STREAM_ERRORS,
    )
