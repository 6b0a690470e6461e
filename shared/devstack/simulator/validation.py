"""Request validation as strict as the real Messages API: an unknown top-level field, a
missing or mistyped one, a tool or output schema that is not an object schema, a tool_choice
naming no tool, or a `cache_control` other than `{"type": "ephemeral"}` with an optional ttl
of "5m" or "1h" (at most 4 of them) is a 400 invalid_request_error; an unknown model is a 404
not_found_error. Messages follow the real API's `<field path>: <problem>` form."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from chorus.devstack.simulator.config import SimulatorConfig

# Every body field the installed SDK's messages.create (plain and beta) may send, plus the
# sampling fields the API still takes. `betas` travels as a header, never in the body.
KNOWN_FIELDS = frozenset({
    "model", "max_tokens", "messages", "system", "tools", "tool_choice", "output_config",
    "stream", "temperature", "top_p", "top_k", "stop_sequences", "metadata", "thinking",
    "service_tier", "container", "mcp_servers", "context_management", "cache_control",
    "diagnostics", "inference_geo", "speed", "user_profile_id", "workspace_id",
    "billing_policy", "compaction", "fallback_credit_token", "fallbacks", "thread",
})  # fmt: skip

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_TOOL_CHOICES = ("auto", "any", "tool", "none")
MAX_CACHE_BREAKPOINTS = 4
CACHE_TTLS = ("5m", "1h")


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str | list[dict[str, Any]]


class MessagesRequest(BaseModel):
    # Unknown fields are refused before this model sees them; the rest are kept as sent.
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1)
    max_tokens: int = Field(ge=1)
    messages: list[Message] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None
    output_config: dict[str, Any] | None = None
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    stop_sequences: list[str] | None = None
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused, as the status and error type the real API uses."""

    status: int
    kind: str
    message: str


def _bad(message: str) -> Refusal:
    return Refusal(400, "invalid_request_error", message)


def _first_error(exc: pydantic.ValidationError) -> str:
    error = exc.errors(include_url=False, include_input=False)[0]
    # Union members add their type to the path ("content.str"); the API names fields only.
    loc = [
        str(p)
        for p in error["loc"]
        if str(p) != "str" and not str(p).startswith(("list[", "dict["))
    ]
    return f"{'.'.join(loc) or 'body'}: {error['msg']}"


def _object_schema_problem(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return "must be a JSON schema object"
    if schema.get("type") != "object":
        return "the root of the schema must be {'type': 'object'}"
    if not isinstance(schema.get("properties", {}), dict):
        return "properties must be an object"
    return None


def _tools_problem(request: MessagesRequest) -> str | None:
    names = []
    for i, tool in enumerate(request.tools or []):
        if tool.get("type") not in (None, "custom"):
            continue  # a server tool (web search, code execution...): it has no input_schema
        name = tool.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            return f"tools.{i}.name: String should match pattern '{_TOOL_NAME.pattern}'"
        if "input_schema" not in tool:
            return f"tools.{i}.input_schema: Field required"
        problem = _object_schema_problem(tool["input_schema"])
        if problem:
            return f"tools.{i}.input_schema: JSON schema is invalid: {problem}"
        names.append(name)
    choice = request.tool_choice
    if choice is None:
        return None
    if choice.get("type") not in _TOOL_CHOICES:
        return f"tool_choice.type: Input should be one of {', '.join(map(repr, _TOOL_CHOICES))}"
    if choice["type"] == "tool" and choice.get("name") not in names:
        return f"tool_choice.name: no tool named {choice.get('name')!r} in tools"
    return None


def _output_config_problem(request: MessagesRequest) -> str | None:
    fmt = (request.output_config or {}).get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return "output_config.format.type: Input should be 'json_schema'"
    if "schema" not in fmt:
        return "output_config.format.schema: Field required"
    problem = _object_schema_problem(fmt["schema"])
    return f"output_config.format.schema: {problem}" if problem else None


def _markers(request: MessagesRequest) -> list[tuple[str, Any]]:
    """(field path, value) of every `cache_control` the request holds, in prefix order."""
    found = [(f"tools.{i}", t) for i, t in enumerate(request.tools or [])]
    if isinstance(request.system, list):
        found += [(f"system.{i}", b) for i, b in enumerate(request.system)]
    for i, message in enumerate(request.messages):
        if isinstance(message.content, list):
            found += [(f"messages.{i}.content.{j}", b) for j, b in enumerate(message.content)]
    markers = [(f"{path}.cache_control", b.get("cache_control")) for path, b in found]
    top = (request.model_extra or {}).get("cache_control")  # automatic caching: the last block
    return [m for m in [*markers, ("cache_control", top)] if m[1] is not None]


def _cache_control_problem(request: MessagesRequest) -> str | None:
    markers = _markers(request)
    for path, marker in markers:
        if not isinstance(marker, dict):
            return f"{path}: Input should be an object"
        extra = sorted(set(marker) - {"type", "ttl"})
        if extra:
            return f"{path}.{extra[0]}: Extra inputs are not permitted"
        if marker.get("type") != "ephemeral":
            return f"{path}.type: Input should be 'ephemeral'"
        if marker.get("ttl", "5m") not in CACHE_TTLS:
            return f"{path}.ttl: Input should be '5m' or '1h'"
    if len(markers) > MAX_CACHE_BREAKPOINTS:
        return (
            f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {len(markers)}."
        )
    return None


def json_object(body: bytes) -> dict[str, Any] | Refusal:
    """The body as a JSON object, or the real API's refusal of it."""
    try:
        data = json.loads(body)
    except ValueError:
        return _bad("There was an error parsing the body: it is not valid JSON")
    if not isinstance(data, dict):
        return _bad("body: Input should be an object")
    return data


def validate_request(body: bytes, config: SimulatorConfig) -> MessagesRequest | Refusal:
    """The parsed request, or why the real API would refuse it."""
    data = json_object(body)
    if isinstance(data, Refusal):
        return data
    for field in data:
        if field not in KNOWN_FIELDS:
            return _bad(f"{field}: Extra inputs are not permitted")
    try:
        request = MessagesRequest.model_validate(data)
    except pydantic.ValidationError as exc:
        return _bad(_first_error(exc))
    problem = (
        _tools_problem(request)
        or _output_config_problem(request)
        or _cache_control_problem(request)
    )
    if problem:
        return _bad(problem)
    if not config.knows_model(request.model):
        return Refusal(404, "not_found_error", f"model: {request.model}")
    return request
