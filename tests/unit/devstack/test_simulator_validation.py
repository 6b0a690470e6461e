"""The simulator refuses what the real Messages API refuses, with the real status and error
type, and accepts every field the installed SDK can send."""

from __future__ import annotations

import json
import typing
from typing import Any

import pytest
from anthropic.types import message_create_params
from anthropic.types.beta import message_create_params as beta_params

from chorus.devstack.simulator.config import SimulatorConfig
from chorus.devstack.simulator.validation import (
    KNOWN_FIELDS,
    MessagesRequest,
    Refusal,
    validate_request,
)

CONFIG = SimulatorConfig()
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}}


def body(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": "claude-haiku-5-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
    }
    return {k: v for k, v in (base | fields).items() if v is not None}


def refused(data: dict[str, Any], config: SimulatorConfig = CONFIG) -> Refusal:
    outcome = validate_request(json.dumps(data).encode(), config)
    assert isinstance(outcome, Refusal), f"accepted: {data}"
    return outcome


def test_every_body_field_the_installed_sdk_can_send_is_known() -> None:
    plain = set(typing.get_type_hints(message_create_params.MessageCreateParamsBase))
    beta = set(typing.get_type_hints(beta_params.MessageCreateParamsBase)) - {"betas"}
    assert plain | beta | {"stream"} <= KNOWN_FIELDS, (plain | beta) - KNOWN_FIELDS


def test_a_request_like_chorus_sends_is_accepted() -> None:
    system = [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}]
    data = body(
        system=system,
        output_config={"format": {"type": "json_schema", "schema": WEATHER}},
        temperature=0.5,
        metadata={"user_id": "u"},
    )
    assert isinstance(validate_request(json.dumps(data).encode(), CONFIG), MessagesRequest)


def test_an_unknown_top_level_field_is_refused_like_the_real_api() -> None:
    refusal = refused(body(colour="blue"))
    assert (refusal.status, refusal.kind) == (400, "invalid_request_error")
    assert refusal.message == "colour: Extra inputs are not permitted"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_tokens": None}, "max_tokens: Field required"),
        ({"messages": None}, "messages: Field required"),
        ({"max_tokens": 0}, "max_tokens: Input should be greater than or equal to 1"),
        ({"max_tokens": "many"}, "max_tokens: Input should be a valid integer"),
        ({"messages": []}, "messages: List should have at least 1 item"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages.0.role: Input should be"),
        ({"temperature": 1.5}, "temperature: Input should be less than or equal to 1"),
        ({"stream": [True]}, "stream: Input should be a valid boolean"),
    ],
    ids=["no max_tokens", "no messages", "zero", "not int", "empty", "role", "temp", "stream"],
)
def test_a_missing_or_invalid_field_is_a_400_naming_the_field(
    fields: dict[str, Any], message: str
) -> None:
    data = body(**{k: v for k, v in fields.items() if v is not None})
    for name in (k for k, v in fields.items() if v is None):
        del data[name]
    refusal = refused(data)
    assert (refusal.status, refusal.kind) == (400, "invalid_request_error")
    assert refusal.message.startswith(message), refusal.message


def test_an_output_schema_that_is_not_an_object_schema_is_refused() -> None:
    for schema in ({"type": "array", "items": {}}, "not a schema"):
        fmt = {"type": "json_schema", "schema": schema}
        refusal = refused(body(output_config={"format": fmt}))
        assert refusal.status == 400 and refusal.message.startswith("output_config.format.schema")
    refusal = refused(body(output_config={"format": {"type": "xml"}}))
    assert refusal.message == "output_config.format.type: Input should be 'json_schema'"


def test_a_tool_without_an_object_input_schema_is_refused() -> None:
    no_object = [{"name": "f", "input_schema": {"type": "string"}}]
    assert refused(body(tools=no_object)).message.startswith(
        "tools.0.input_schema: JSON schema is invalid"
    )
    assert refused(body(tools=[{"name": "f"}])).message == "tools.0.input_schema: Field required"
    assert refused(body(tools=[{"name": "bad name", "input_schema": WEATHER}])).message.startswith(
        "tools.0.name:"
    )
    server_tool = [{"type": "web_search_20250305", "name": "web_search"}]
    accepted = validate_request(json.dumps(body(tools=server_tool)).encode(), CONFIG)
    assert isinstance(accepted, MessagesRequest)


def test_a_forced_tool_must_be_one_of_the_tools() -> None:
    tools = [{"name": "forecast", "input_schema": WEATHER}]
    refusal = refused(body(tools=tools, tool_choice={"type": "tool", "name": "other"}))
    assert refusal.message == "tool_choice.name: no tool named 'other' in tools"
    assert refused(body(tools=tools, tool_choice={"type": "maybe"})).status == 400


def test_an_unknown_model_is_a_404_not_found_error_as_in_the_real_api() -> None:
    refusal = refused(body(model="gpt-4o"))
    assert (refusal.status, refusal.kind, refusal.message) == (
        404,
        "not_found_error",
        "model: gpt-4o",
    )
    strict = SimulatorConfig(models=[], model_prefixes=["claude-sonnet-"])
    assert refused(body(model="claude-haiku-5-5"), strict).status == 404
    assert CONFIG.knows_model("claude-opus-5-5") and CONFIG.knows_model("m")


def test_a_body_that_is_not_a_json_object_is_a_400() -> None:
    for raw in (b"{not json", b"[1, 2]"):
        outcome = validate_request(raw, CONFIG)
        assert isinstance(outcome, Refusal) and outcome.status == 400
