"""Deterministic, plausible model output derived from the prompt. Pure: no I/O.

The same prompt always gives the same answer, so tests and demos are repeatable.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

APPROACHES = [
    "formal", "conversational", "persuasive", "technical", "storytelling", "concise",
    "playful", "comparative", "educational", "emotional", "minimalist", "data-driven",
    "testimonial", "question-led", "luxury", "humorous", "poetic", "journalistic",
    "step-by-step", "visionary", "skeptical", "nostalgic",
]  # fmt: skip

_STOP = {
    "about", "after", "their", "there", "these", "those", "which", "would", "should", "every",
    "never", "other", "being", "while", "where", "within", "inside", "between", "subtask",
    "subtasks", "context", "description", "instructions", "worker", "exactly", "produce",
}  # fmt: skip
_AT_MOST = re.compile(r"at most (\d+)")
_MAX_ITEMS = re.compile(r"maxItems:\s*(\d+)")


def seed_of(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4) if text else 0


_DATA_TAGS = re.compile(r"<(task|context|description)>(.*?)</\1>", re.DOTALL)


def user_data(text: str) -> str:
    """The caller's data inside Chorus's tags, so answers echo the task, not the instructions."""
    found = [m.group(2) for m in _DATA_TAGS.finditer(text)]
    return " ".join(found) if found else text


def salient_words(text: str, limit: int = 8) -> list[str]:
    words = re.findall(r"[A-Za-z][A-Za-z-]{4,}", user_data(text))
    seen: dict[str, None] = {}
    for word in sorted(words, key=lambda w: (-len(w), w)):
        lower = word.lower()
        if lower not in _STOP and lower not in seen:
            seen[lower] = None
    return list(seen)[:limit] or ["the", "task"]


def generate_text(prompt_text: str) -> str:
    seed = seed_of(prompt_text)
    words = salient_words(prompt_text)
    start = seed % len(words)
    pick = [words[(start + i) % len(words)] for i in range(6)]
    sentences = [
        f"Here is a draft that centres on {pick[0]} and {pick[1]}.",
        f"It opens by showing why {pick[2]} matters to the reader, then ties it to {pick[3]}.",
        f"The middle gives one concrete example of {pick[4]} in everyday use.",
        f"It closes with a clear next step that brings {pick[5]} back to the reader.",
    ]
    return " ".join(sentences[: 3 + seed % 2 + 1])


def generate_analysis(prompt_text: str) -> str:
    words = salient_words(prompt_text, limit=4)
    focus = ", ".join(words[:3])
    return (
        f"The task turns on {focus}. A single answer would average these out, so the plan "
        f"splits the work into distinct approaches, each written for the same audience, and "
        f"compares them side by side before choosing."
    )


def _max_items(schema: dict[str, Any], prompt_text: str) -> int | None:
    if isinstance(schema.get("maxItems"), int):
        return int(schema["maxItems"])
    found = _MAX_ITEMS.search(str(schema.get("description", ""))) or _AT_MOST.search(prompt_text)
    return int(found.group(1)) if found else None


def generate_instance(
    schema: dict[str, Any],
    prompt_text: str,
    defs: dict[str, Any] | None = None,
    *,
    list_size: int | None = None,
) -> Any:
    """A value valid against `schema` (the subset pydantic and the SDK produce)."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        target = defs[schema["$ref"].split("/")[-1]]
        return generate_instance(target, prompt_text, defs, list_size=list_size)
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"] or schema["anyOf"]
        return generate_instance(options[0], prompt_text, defs, list_size=list_size)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "object" and "analysis" in schema.get("properties", {}):
        value = {
            name: generate_instance(sub, prompt_text + name, defs, list_size=list_size)
            for name, sub in schema["properties"].items()
        }
        value["analysis"] = generate_analysis(prompt_text)
        return value
    if kind == "object":
        return {
            name: generate_instance(sub, prompt_text + name, defs, list_size=list_size)
            for name, sub in schema.get("properties", {}).items()
        }
    if kind == "array":
        return _array(schema, prompt_text, defs, list_size)
    if kind == "integer":
        return int(min(schema.get("minimum", 1), schema.get("maximum", 1)))
    if kind == "number":
        return float(min(schema.get("minimum", 1.0), schema.get("maximum", 1.0)))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    text = generate_text(prompt_text)
    # Bounds the SDK moves into the description stay in the schema Chorus validates against.
    text = text[: schema.get("maxLength", len(text))]
    return text.ljust(schema.get("minLength", 0), ".")


def _array(
    schema: dict[str, Any], prompt_text: str, defs: dict[str, Any], list_size: int | None
) -> list[Any]:
    items = schema.get("items", {})
    if "$ref" in items:
        items = defs[items["$ref"].split("/")[-1]]
    seed = seed_of(prompt_text)
    limit = _max_items(schema, prompt_text)
    # A fixed list_size makes benchmarks repeatable; otherwise 3-5 items, seeded by the prompt.
    wanted = list_size or 3 + seed % 3
    count = wanted if limit is None else max(1, min(limit, wanted))
    props = items.get("properties", {})
    if {"type", "description"} <= set(props):
        plan = _plan_items(count, prompt_text, seed)
        tiers = props.get("tier", {}).get("enum")
        if tiers:  # spread the subtasks over the tiers, as a planner weighing them would
            for n, item in enumerate(plan):
                item["tier"] = tiers[n % len(tiers)]
        return plan
    return [generate_instance(items, f"{prompt_text}#{i}", defs) for i in range(count)]


def _plan_items(count: int, prompt_text: str, seed: int) -> list[dict[str, Any]]:
    words = salient_words(prompt_text)
    start = seed % len(APPROACHES)
    chosen = [APPROACHES[(start + 7 * i) % len(APPROACHES)] for i in range(count)]
    return [
        {
            "type": kind,
            "description": (
                f"Write a {kind} version that highlights {words[i % len(words)]} "
                f"and {words[(i + 1) % len(words)]}."
            ),
        }
        for i, kind in enumerate(chosen)
    ]
