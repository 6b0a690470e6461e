"""The assistant message for a valid request: text, JSON for an output schema (given as
`output_config.format` or in the prompt's `<output_schema>` element), or a forced tool call,
each cut off at `max_tokens` as the real API does (stop_reason "max_tokens")."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from chorus.devstack.simulator.config import SimulatorConfig
from chorus.devstack.simulator.generation import (
    estimate_tokens,
    generate_instance,
    generate_long_text,
    generate_text,
    reply_length,
    truncate_to_tokens,
)
from chorus.devstack.simulator.validation import MessagesRequest


def request_text(request: MessagesRequest) -> str:
    parts: list[str] = []
    if isinstance(request.system, str):
        parts.append(request.system)
    elif request.system:
        parts.extend(str(b.get("text", "")) for b in request.system)
    for message in request.messages:
        if isinstance(message.content, str):
            parts.append(message.content)
        else:
            parts.extend(str(b.get("text", "")) for b in message.content)
    return "\n".join(parts)


def _partial_input(value: Any, max_tokens: int) -> dict[str, Any]:
    """What survives of a tool input cut off mid-way: the leading fields that fit whole."""
    kept: dict[str, Any] = {}
    if not isinstance(value, dict):
        return kept
    for key, item in value.items():
        if estimate_tokens(json.dumps({**kept, key: item})) > max_tokens:
            break
        kept[key] = item
    return kept


def _text_reply(config: SimulatorConfig, text: str) -> str:
    if config.reply_tokens_max is None:
        reply = generate_text(text)
    else:
        reply = generate_long_text(text, reply_length(text, config.reply_tokens_max))
    if "<response>" in text:  # a prompt that asks for its answer in a <response> element
        reply = f"<response>\n{reply}\n</response>"
    return reply


_OUTPUT_SCHEMA = re.compile(r"<output_schema>\s*(.*?)\s*</output_schema>", re.DOTALL)


def schema_in_prompt(text: str) -> dict[str, Any] | None:
    """The JSON object schema a prompt asks its reply to match in an `<output_schema>`
    element (Chorus's plan asked for in the prompt); the last one wins."""
    found = _OUTPUT_SCHEMA.findall(text)
    if not found:
        return None
    try:
        schema = json.loads(found[-1])
    except ValueError:
        return None
    return schema if isinstance(schema, dict) and schema.get("type") == "object" else None


def answer(config: SimulatorConfig, request: MessagesRequest, text: str) -> dict[str, Any]:
    """The assistant message for a request that passed validation and the fault plan."""
    fmt = (request.output_config or {}).get("format") or {}
    size = config.plan_size
    choice = request.tool_choice or {}
    limit = request.max_tokens
    content: list[dict[str, Any]]
    in_prompt = schema_in_prompt(text) if not fmt and choice.get("type") != "tool" else None
    if fmt.get("type") == "json_schema" or in_prompt is not None:
        schema = in_prompt if in_prompt is not None else fmt.get("schema", {})
        value = generate_instance(schema, text, list_size=size)
        reply, cut = truncate_to_tokens(json.dumps(value), limit)
        content = [{"type": "text", "text": reply}]
        stop_reason = "max_tokens" if cut else "end_turn"
    elif choice.get("type") == "tool":
        tool = next((t for t in request.tools or [] if t.get("name") == choice.get("name")), {})
        value = generate_instance(tool.get("input_schema", {}), text, list_size=size)
        cut = estimate_tokens(json.dumps(value)) > limit
        block = {"type": "tool_use", "id": "toolu_sim_" + uuid.uuid4().hex[:20]}
        tool_input = _partial_input(value, limit) if cut else value
        content = [block | {"name": choice["name"], "input": tool_input}]
        stop_reason = "max_tokens" if cut else "tool_use"
    else:
        reply, cut = truncate_to_tokens(_text_reply(config, text), limit)
        content = [{"type": "text", "text": reply}]
        stop_reason = "max_tokens" if cut else "end_turn"
    return {
        "id": "msg_sim_" + uuid.uuid4().hex[:24],
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
    }


def output_tokens(body: dict[str, Any], max_tokens: int) -> int:
    """The reply's output tokens: all of max_tokens when it was cut off there, as billed."""
    if body["stop_reason"] == "max_tokens":
        return max_tokens
    produced = 0
    for block in body["content"]:
        shown = block.get("text") if block.get("type") == "text" else block.get("input")
        produced += estimate_tokens(shown if isinstance(shown, str) else json.dumps(shown))
    return max(1, min(produced, max_tokens))
