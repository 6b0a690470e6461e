"""Output schemas are checked at submit: a JSON Schema object, of the structured-output subset,
size-capped, each problem named with its place."""

from __future__ import annotations

from typing import Any

import pytest

from chorus.contract.schemas import schema_problems
from chorus.core.submission import build_request
from chorus.errors import InvalidRequest
from tests.support.schemas import FINDINGS


def test_a_schema_in_the_subset_passes() -> None:
    assert schema_problems(FINDINGS) == []


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ([1, 2], "must be a JSON Schema object, not list"),
        ({"type": "string"}, 'the top level must be {"type": "object", ...}'),
        ({"type": "object", "properties": {"a": {"type": "strin"}}}, "unknown type 'strin'"),
        ({"type": "object", "properties": {"a": {"type": ["string", "null"]}}}, "use anyOf"),
        ({"type": "object", "properties": {"a": {"if": {}}}}, "/properties/a uses if"),
        ({"type": "object", "properties": {"a": {"description": "x"}}}, "/properties/a needs"),
        ({"type": "object", "required": "a"}, "is not a valid JSON Schema at /required"),
        ({"type": "object", "description": "x" * 30_000}, "bytes; the limit is 20000"),
    ],
)
def test_a_schema_outside_the_subset_is_refused_with_its_place(schema: Any, problem: str) -> None:
    problems = schema_problems(schema)
    assert problems and problem in problems[0], problems


def test_submit_refuses_a_bad_schema_naming_the_option() -> None:
    with pytest.raises(InvalidRequest) as caught:
        build_request({"task": "t", "options": {"synthesis_schema": {"type": "string"}}})
    assert str(caught.value).startswith("options.synthesis_schema: the top level must be")
