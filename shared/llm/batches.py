"""The Message Batches API calls batch mode makes (create, retrieve, results, cancel), through
the official SDK, with errors classified like every other model call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anthropic

from chorus.contract.batches import BatchOutcome, BatchStatus
from chorus.llm.errors import classify_model_error

T = TypeVar("T")
ERROR_TEXT_CHARS = 500


def _call(timeout_s: float, action: Callable[[], T]) -> T:
    try:
        return action()
    except anthropic.AnthropicError as exc:
        raise classify_model_error(exc, timeout_s=timeout_s) from exc


def create(client: anthropic.Anthropic, timeout_s: float, requests: list[dict[str, Any]]) -> str:
    """Send `[{custom_id, params}]` as one batch; its id. Raises ModelCallError."""
    batch = _call(timeout_s, lambda: client.messages.batches.create(requests=requests))  # type: ignore[arg-type]
    return batch.id


def retrieve(client: anthropic.Anthropic, timeout_s: float, batch_id: str) -> BatchStatus:
    batch = _call(timeout_s, lambda: client.messages.batches.retrieve(batch_id))
    status = batch.processing_status
    return BatchStatus(batch_id=batch.id, ended=status == "ended", processing_status=status)


def results(client: anthropic.Anthropic, timeout_s: float, batch_id: str) -> list[BatchOutcome]:
    """Every request's outcome in an ended batch."""

    def read() -> list[BatchOutcome]:
        return [_outcome(line) for line in client.messages.batches.results(batch_id)]

    return _call(timeout_s, read)


def cancel(client: anthropic.Anthropic, timeout_s: float, batch_id: str) -> None:
    _call(timeout_s, lambda: client.messages.batches.cancel(batch_id))


def _outcome(line: Any) -> BatchOutcome:
    result = line.result
    kind = result.type
    if kind == "succeeded":
        message = result.message.model_dump(mode="json")
        return BatchOutcome(custom_id=line.custom_id, result="succeeded", message=message)
    if kind == "errored":
        error = getattr(result.error, "error", None)
        detail = f"{getattr(error, 'type', 'error')}: {getattr(error, 'message', '')}"
        return BatchOutcome(
            custom_id=line.custom_id, result="errored", error=detail[:ERROR_TEXT_CHARS]
        )
    text = (
        "the batch expired before this request ran"
        if kind == "expired"
        else ("the batch was cancelled before this request ran")
    )
    return BatchOutcome(custom_id=line.custom_id, result=kind, error=text)
