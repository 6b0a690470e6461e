"""Prompt caching as the Messages API does it, so cache figures measured here are real.

The rules modelled:
- A cache entry is the prefix up to and including a block with `cache_control`, in the
  order tools, system, messages; its key also holds the model and `output_config.format`
  (structured output injects a system prompt), and for a breakpoint in the messages the
  `tool_choice` and `thinking` settings (changing them invalidates the messages' cache only).
  The markers themselves are not part of the key: the same prefix marked 5m or 1h is one entry.
- A prefix shorter than the model's minimum is never written or read.
- An entry is usable only once the first response that writes it has begun (`begin`): a
  request arriving before that pays the write too and reads nothing. A failed writer (an
  error status, a 429) never calls `begin`, so its entry never exists.
- An entry expires its TTL (5m by default, or 1h) after its last use; a read refreshes it.

Approximations: the real API also finds an entry written at an earlier block than a
breakpoint (it looks back about 20 blocks); here only prefixes ending at this request's own
breakpoints are looked up. With several breakpoints the request reads the longest usable one
and writes every later one; the tokens it writes are split into the 5m and 1h buckets by the
TTL of the breakpoint that closes each stretch. Markers inside a tool_result's nested
content are not seen (its whole block is one unit). A top-level `cache_control` (automatic
caching) marks the last block.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chorus.devstack.simulator.generation import estimate_tokens

TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}


@dataclass(frozen=True)
class CacheUsage:
    input_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    ephemeral_5m_input_tokens: int = 0
    ephemeral_1h_input_tokens: int = 0

    def fields(self, output_tokens: int) -> dict[str, Any]:
        """The reply's `usage` object, shaped as the API sends it."""
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.ephemeral_5m_input_tokens,
                "ephemeral_1h_input_tokens": self.ephemeral_1h_input_tokens,
            },
        }


@dataclass(frozen=True)
class CacheCharge:
    """What a request pays, and the entries it makes usable once its response begins."""

    usage: CacheUsage
    writes: tuple[tuple[str, float], ...] = field(default=())  # (key, ttl in seconds)


@dataclass(frozen=True)
class _Breakpoint:
    tokens: int  # the prefix's tokens, through the marked block
    ttl_s: float
    key: str


def _blocks(request: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(part, block) for tools, system, then message content, in the order Anthropic caches
    them; a string system or message is one text block."""
    blocks = [("tools", t) for t in request.get("tools") or [] if isinstance(t, dict)]
    system = request.get("system")
    if isinstance(system, str):
        blocks.append(("system", {"type": "text", "text": system}))
    elif isinstance(system, list):
        blocks.extend(("system", b) for b in system if isinstance(b, dict))
    for message in request.get("messages", []):
        content = message.get("content")
        role = str(message.get("role"))
        if isinstance(content, str):
            blocks.append(("messages", {"type": "text", "text": content, "role": role}))
        elif isinstance(content, list):
            blocks.extend(("messages", b | {"role": role}) for b in content if isinstance(b, dict))
    return blocks


def _tokens(block: dict[str, Any]) -> int:
    text = block.get("text")
    if isinstance(text, str):
        return estimate_tokens(text)
    return estimate_tokens(json.dumps({k: v for k, v in block.items() if k != "role"}))


def input_tokens(request: dict[str, Any]) -> int:
    """All the request's input tokens, cached or not: what an input rate limit counts."""
    return sum(_tokens(b) for _, b in _blocks(request))


def min_tokens_for(model: str, fallback: int, by_model: Mapping[str, int]) -> int:
    """The model's smallest cacheable prefix: the longest matching name prefix wins."""
    matches = [p for p in by_model if model.startswith(p)]
    return by_model[max(matches, key=len)] if matches else fallback


def _marker(block: dict[str, Any]) -> dict[str, Any] | None:
    marker = block.get("cache_control")
    return marker if isinstance(marker, dict) else None


def _breakpoints(request: dict[str, Any]) -> tuple[int, list[_Breakpoint]]:
    """The request's total input tokens and its breakpoints, in prefix order."""
    blocks = _blocks(request)
    automatic = request.get("cache_control")
    if isinstance(automatic, dict) and blocks and _marker(blocks[-1][1]) is None:
        blocks[-1] = (blocks[-1][0], blocks[-1][1] | {"cache_control": automatic})
    fmt = (request.get("output_config") or {}).get("format")
    head = [request.get("model"), fmt]
    messages_head = [request.get("tool_choice"), request.get("thinking")]
    found: list[_Breakpoint] = []
    total = 0
    for i, (part, block) in enumerate(blocks):
        total += _tokens(block)
        marker = _marker(block)
        if marker is None:
            continue
        prefix = [{k: v for k, v in b.items() if k != "cache_control"} for _, b in blocks[: i + 1]]
        keyed = head + (messages_head if part == "messages" else []) + prefix
        key = hashlib.sha256(json.dumps(keyed, sort_keys=True, default=str).encode()).hexdigest()
        ttl_s = TTL_SECONDS.get(str(marker.get("ttl", "5m")), TTL_SECONDS["5m"])
        found.append(_Breakpoint(total, ttl_s, key))
    return total, found


class PromptCache:
    def __init__(
        self,
        min_tokens: int,
        min_tokens_by_model: Mapping[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.min_tokens = min_tokens
        self.min_tokens_by_model = dict(min_tokens_by_model or {})
        self._clock = clock
        self._expires: dict[str, float] = {}  # usable entries: key -> when they expire

    def clear(self) -> None:
        self._expires.clear()

    def account(self, request: dict[str, Any]) -> CacheCharge:
        """What the request pays on arrival; reading an entry refreshes it now."""
        total, points = _breakpoints(request)
        model = str(request.get("model"))
        minimum = min_tokens_for(model, self.min_tokens, self.min_tokens_by_model)
        points = [p for p in points if p.tokens >= minimum]
        if not points:
            return CacheCharge(CacheUsage(total))
        now = self._clock()
        self._expires = {k: t for k, t in self._expires.items() if t > now}
        read_at = max((i for i, p in enumerate(points) if p.key in self._expires), default=-1)
        read = points[read_at].tokens if read_at >= 0 else 0
        if read_at >= 0:
            hit = points[read_at]
            self._expires[hit.key] = max(self._expires[hit.key], now + hit.ttl_s)
        split = {TTL_SECONDS["5m"]: 0, TTL_SECONDS["1h"]: 0}
        before = read
        for point in points[read_at + 1 :]:
            split[point.ttl_s] += point.tokens - before
            before = point.tokens
        usage = CacheUsage(
            input_tokens=total - points[-1].tokens,
            cache_creation_input_tokens=points[-1].tokens - read,
            cache_read_input_tokens=read,
            ephemeral_5m_input_tokens=split[TTL_SECONDS["5m"]],
            ephemeral_1h_input_tokens=split[TTL_SECONDS["1h"]],
        )
        writes = tuple((p.key, p.ttl_s) for p in points[read_at + 1 :])
        return CacheCharge(usage, writes)

    def begin(self, charge: CacheCharge) -> None:
        """The request's response has begun: the entries it wrote are usable from now."""
        now = self._clock()
        for key, ttl_s in charge.writes:
            self._expires[key] = max(self._expires.get(key, 0.0), now + ttl_s)
