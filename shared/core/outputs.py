"""Typed outputs: a reply held against the job's output schema. Pure."""

from __future__ import annotations

import json
from typing import Any


def parse_output(text: str, schema: dict[str, Any]) -> tuple[Any, str | None]:
    """(the parsed value, None) when `text` is JSON matching `schema`; else (None, the reason
    in one line)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"the reply is not JSON ({exc.msg} at position {exc.pos})"
    problem = validation_problem(value, schema)
    return (value, None) if problem is None else (None, f"the reply does not match: {problem}")


def validation_problem(value: Any, schema: dict[str, Any]) -> str | None:
    """Why `value` does not match `schema` (the first problem, one line), or None."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(schema).iter_errors(value))
    if error is None:
        return None
    where = "/" + "/".join(str(p) for p in error.path) if error.path else "/"
    return f"at {where}: {error.message[:300]}"
