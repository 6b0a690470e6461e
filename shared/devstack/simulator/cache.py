"""Prompt-caching emulation: a repeated prefix marked with cache_control is read from cache."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from chorus.devstack.simulator.generation import estimate_tokens


@dataclass(frozen=True)
class CacheUsage:
    input_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int


def _blocks(request: dict[str, Any]) -> list[dict[str, Any]]:
    """Tools, system, then message content, in the order Anthropic caches them."""
    blocks: list[dict[str, Any]] = [t for t in request.get("tools") or [] if isinstance(t, dict)]
    system = request.get("system")
    if isinstance(system, str):
        blocks.append({"type": "text", "text": system})
    elif isinstance(system, list):
        blocks.extend(b for b in system if isinstance(b, dict))
    for message in request.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            blocks.append({"type": "text", "text": content})
        elif isinstance(content, list):
            blocks.extend(b for b in content if isinstance(b, dict))
    return blocks


def _tokens(block: dict[str, Any]) -> int:
    text = block.get("text")
    return estimate_tokens(text if isinstance(text, str) else json.dumps(block))


class PromptCache:
    def __init__(self, min_tokens: int) -> None:
        self.min_tokens = min_tokens
        self._seen: set[str] = set()

    def clear(self) -> None:
        self._seen.clear()

    def account(self, request: dict[str, Any]) -> CacheUsage:
        blocks = _blocks(request)
        total = sum(_tokens(b) for b in blocks)
        marked = [i for i, b in enumerate(blocks) if b.get("cache_control")]
        if not marked:
            return CacheUsage(total, 0, 0)
        prefix = blocks[: marked[-1] + 1]
        prefix_tokens = sum(_tokens(b) for b in prefix)
        if prefix_tokens < self.min_tokens:
            return CacheUsage(total, 0, 0)
        digest = hashlib.sha256(
            (str(request.get("model")) + json.dumps(prefix, sort_keys=True)).encode()
        ).hexdigest()
        rest = total - prefix_tokens
        if digest in self._seen:
            return CacheUsage(rest, 0, prefix_tokens)
        self._seen.add(digest)
        return CacheUsage(rest, prefix_tokens, 0)
