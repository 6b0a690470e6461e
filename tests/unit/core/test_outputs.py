"""A typed reply is parsed and held against the schema; the reason names the place."""

from __future__ import annotations

import json

from chorus.core.outputs import parse_output
from tests.support.schemas import FINDINGS

FINDING = {"severity": "high", "file": "app.py", "line": 3, "problem": "p", "fix": "f"}


def test_a_matching_reply_is_parsed() -> None:
    text = json.dumps({"findings": [FINDING]})
    assert parse_output(text, FINDINGS) == ({"findings": [FINDING]}, None)


def test_a_reply_that_is_not_json_or_does_not_match_says_why() -> None:
    assert parse_output("Sure! Here are the findings", FINDINGS) == (
        None,
        "the reply is not JSON (Expecting value at position 0)",
    )
    wrong = json.dumps({"findings": [{**FINDING, "severity": "urgent"}]})
    data, problem = parse_output(wrong, FINDINGS)
    assert data is None and problem is not None
    assert problem.startswith("the reply does not match: at /findings/0/severity: 'urgent'")
