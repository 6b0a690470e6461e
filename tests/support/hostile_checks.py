"""What the hostile-input tests check on every answer and in Redis."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import redis

from chorus.contract import names
from tests.support.paths import REPO

CHECKOUT = str(REPO)
LEAK = re.compile(
    "|".join(
        [
            r"Traceback \(most recent call last\)",
            r'File "/',
            r"line \d+, in ",
            r"site-packages",
            r"pydantic_core",
            r"errors\.pydantic\.dev",
            re.escape(CHECKOUT),
            re.escape(sys.prefix),
        ]
    )
)


def enqueued_state(client: redis.Redis) -> tuple[Any, ...]:
    """Everything that shows a job was recorded or enqueued: records, indexes, queues."""
    records = frozenset(client.scan_iter(match=names.job_key("*"), count=1000))
    tenants = frozenset(
        (key, client.zcard(key))
        for key in client.scan_iter(match=names.tenant_index_key("*"), count=1000)
    )
    return (
        records,
        tenants,
        client.zcard(names.JOB_INDEX_KEY),
        client.llen(names.ORCHESTRATOR_QUEUE),
        client.llen(names.SUBTASKS_QUEUE),
    )


def assert_clean_answer(status: int, body: bytes | str) -> None:
    """No trace, no internals; an error is JSON with a readable `error` line."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    found = LEAK.search(text)
    assert found is None, f"{status} answer leaks {found.group(0)!r}: {text[:500]}"
    assert status < 500, f"server error {status}: {text[:500]}"
    if status >= 400:
        error = json.loads(text)
        assert isinstance(error, dict) and isinstance(error.get("error"), str) and error["error"]


def nested_context(depth: int, *, lists: bool = False) -> bytes:
    opener, closer = ("[", "]") if lists else ('{"k":', "}")
    return (
        '{"task": "t", "context": {"k": ' + opener * depth + "1" + closer * depth + "}}"
    ).encode()
