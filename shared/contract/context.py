"""What a job's context may be: a plain JSON object, bounded in depth and size."""

from __future__ import annotations

import json
from typing import Any

from chorus.contract import limits

# Deeper context cannot be serialised (pydantic stops at ~250 levels, json at ~1000).
_MAX_CONTEXT_DEPTH = 64


def _nesting_depth(value: Any) -> int:
    """Levels of nested objects and lists, counted without recursion; stops past the limit."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            deepest = max(deepest, depth)
            if deepest > _MAX_CONTEXT_DEPTH:
                break
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def check_context(value: Any) -> Any:
    """The context as given, or ValueError with a reason a person can act on."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        kind = type(value).__name__
        raise ValueError(f'context must be a JSON object such as {{"key": "value"}}, not {kind}')
    if _nesting_depth(value) > _MAX_CONTEXT_DEPTH:
        raise ValueError(f"context is nested more than {_MAX_CONTEXT_DEPTH} levels deep")
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:  # NaN, Infinity or a value JSON cannot hold
        raise ValueError(f"context must be plain JSON ({exc})") from exc
    size = len(text.encode())
    if size > limits.MAX_CONTEXT_BYTES:
        raise ValueError(f"context is {size} bytes; the limit is {limits.MAX_CONTEXT_BYTES} bytes")
    return value
