"""The message a valid request is answered with, its usage billed: one path for
`POST /v1/messages` and for the requests of a message batch, so both reply, count tokens and
use the prompt cache the same way."""

from __future__ import annotations

from typing import Any

from chorus.devstack.simulator.cache import CacheCharge
from chorus.devstack.simulator.faults import Fault
from chorus.devstack.simulator.replies import answer, output_tokens
from chorus.devstack.simulator.state import SimulatorState
from chorus.devstack.simulator.validation import MessagesRequest


def billed_message(
    state: SimulatorState,
    request: MessagesRequest,
    text: str,
    fault: Fault | None,
    seen: dict[str, Any],
) -> tuple[dict[str, Any], CacheCharge]:
    """The assistant message (its text replaced when a `body` fault rule says so), with usage
    from the prompt cache added to the totals and to `seen`, the request's
    `/_simulator/requests` entry. The caller makes the cache charge usable (`cache.begin`)
    once the reply has begun."""
    body = answer(state.config, request, text)
    if fault is not None and fault.body is not None:
        body["content"] = [{"type": "text", "text": fault.body}]
    charge = state.cache.account(request.model_dump())
    body["usage"] = charge.usage.fields(output_tokens(body, request.max_tokens))
    state.count_usage(request.model, body["usage"], seen)
    return body, charge
