"""Output schemas a job may bring (`options.output_schema`, `options.synthesis_schema`): a JSON
Schema of the subset the structured-output API accepts, checked at submit. Pure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final

from chorus.contract import limits

TYPES: Final = frozenset({"object", "array", "string", "integer", "number", "boolean", "null"})
# What the structured-output API takes (numeric and length bounds become hints to the model;
# Chorus still validates every reply against the whole schema).
KEYWORDS: Final = frozenset(
    {
        "$schema", "$defs", "$ref", "type", "properties", "required", "additionalProperties",
        "items", "enum", "const", "anyOf", "oneOf", "allOf", "description", "title", "format",
        "minItems", "maxItems", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
        "multipleOf", "minLength", "maxLength", "pattern", "default", "examples",
    }
)  # fmt: skip
_MAX_DEPTH = 16


def schema_problems(schema: Any) -> list[str]:
    """Why `schema` cannot be a job's output schema; empty when it can."""
    if not isinstance(schema, dict):
        return [f"must be a JSON Schema object, not {type(schema).__name__}"]
    try:
        size = len(json.dumps(schema, allow_nan=False).encode())
    except (TypeError, ValueError):
        return ["must be plain JSON"]
    if size > limits.MAX_SCHEMA_BYTES:
        return [f"is {size} bytes; the limit is {limits.MAX_SCHEMA_BYTES}"]
    if schema.get("type") != "object":
        return ['the top level must be {"type": "object", ...}: replies are JSON objects']
    problems = list(_subset_problems(schema))
    if not problems:
        problems += _json_schema_problems(schema)
    return problems


def _subset_problems(schema: dict[str, Any]) -> Iterator[str]:
    for where, node, depth in _nodes(schema, "", 0):
        if depth > _MAX_DEPTH:
            yield f"{where or '/'} is nested more than {_MAX_DEPTH} levels deep"
            return
        unknown = sorted(set(node) - KEYWORDS)
        if unknown:
            yield f"{where or '/'} uses {', '.join(unknown)}, which structured output does not take"
        kind = node.get("type")
        if isinstance(kind, list):
            yield f"{where or '/'}: a list of types is not taken; use anyOf"
        elif kind is not None and kind not in TYPES:
            yield f"{where or '/'}: unknown type {kind!r}"
        shaped = {"type", "anyOf", "oneOf", "allOf", "enum", "const", "$ref"} & set(node)
        if not shaped:
            yield f"{where or '/'} needs a type (or anyOf, enum, const, $ref)"


def _nodes(node: Any, where: str, depth: int) -> Iterator[tuple[str, dict[str, Any], int]]:
    if not isinstance(node, dict):
        return
    yield where, node, depth
    for name, sub in (node.get("properties") or {}).items():
        yield from _nodes(sub, f"{where}/properties/{name}", depth + 1)
    for name, sub in (node.get("$defs") or {}).items():
        yield from _nodes(sub, f"{where}/$defs/{name}", depth + 1)
    if isinstance(node.get("items"), dict):
        yield from _nodes(node["items"], f"{where}/items", depth + 1)
    for key in ("anyOf", "oneOf", "allOf"):
        for n, sub in enumerate(node.get(key) or []):
            yield from _nodes(sub, f"{where}/{key}/{n}", depth + 1)


def _json_schema_problems(schema: dict[str, Any]) -> list[str]:
    # Imported here: submit-time only, and the CLI's fast commands never need it.
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/" + "/".join(str(p) for p in exc.path) if exc.path else "/"
        return [f"is not a valid JSON Schema at {where}: {exc.message[:200]}"]
    return []
