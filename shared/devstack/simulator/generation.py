"""Deterministic, plausible model output derived from the prompt. Pure: no I/O.

The same prompt always gives the same answer, so tests and demos are repeatable.

Token counts: no tokenizer matching Claude's is available offline (the SDK counts tokens only
over HTTP, `messages.count_tokens`), so `estimate_tokens` approximates a BPE tokenizer: a
word of up to 7 letters is one token and longer words one more per 7 letters, a run of digits
one token per 3 digits, every other visible character (punctuation, JSON's braces and
quotes, each CJK character) one token; whitespace rides with the next token. On English prose
this gives about 1.2 tokens per word (chars/4 gives about 1.4), where Claude's tokenizer is
commonly quoted at 1.3, so expect an error of about 20% either way on prose; on JSON and code
it is higher than chars/4, as real tokenizers count their punctuation separately too. It is
not calibrated against a real tokenizer: use it for sizes and limits, not for billing.
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


_PIECES = re.compile(r"[^\W\d_]+|\d+|[^\w\s]|_", re.UNICODE)
_WORD_TOKEN_CHARS = 7
_DIGIT_TOKEN_CHARS = 3
_LATIN_END = 0x250  # Basic Latin to Latin Extended-B


def _piece_tokens(piece: str) -> int:
    if piece.isdigit():
        return math.ceil(len(piece) / _DIGIT_TOKEN_CHARS)
    if piece.isalpha() and all(ord(c) < _LATIN_END for c in piece):
        return math.ceil(len(piece) / _WORD_TOKEN_CHARS)
    if piece.isalpha():  # other scripts: BPE vocabularies hold few of their multi-char runs
        return len(piece)
    return 1


def estimate_tokens(text: str) -> int:
    """About how many tokens Claude would count in `text` (see the module docstring)."""
    return sum(_piece_tokens(p) for p in _PIECES.findall(text))


def truncate_to_tokens(text: str, max_tokens: int) -> tuple[str, bool]:
    """The longest prefix of `text` within `max_tokens`, and whether it was cut."""
    total = 0
    for match in _PIECES.finditer(text):
        total += _piece_tokens(match.group())
        if total > max_tokens:
            return text[: match.start()].rstrip(), True
    return text, False


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


def generate_text(prompt_text: str, sentences: int = 4) -> str:
    seed = seed_of(prompt_text)
    words = salient_words(prompt_text)
    start = seed % len(words)
    pick = [words[(start + i) % len(words)] for i in range(6)]
    lines = [
        f"Here is a draft that centres on {pick[0]} and {pick[1]}.",
        f"It opens by showing why {pick[2]} matters to the reader, then ties it to {pick[3]}.",
        f"The middle gives one concrete example of {pick[4]} in everyday use.",
        f"It closes with a clear next step that brings {pick[5]} back to the reader.",
    ]
    return " ".join(lines[:sentences])


_MORE = (
    "Another angle looks at {a} through the eyes of someone meeting {b} for the first time.",
    "A short example follows: a day in which {a} changes how {b} is used at home and at work.",
    "The draft then weighs {a} against {b}, giving two reasons for each and one honest caveat.",
    "It adds a line of evidence about {a}, with a number a reader could check, and links {b}.",
)


def generate_long_text(prompt_text: str, target_tokens: int) -> str:
    """`generate_text`, extended with further seeded sentences to about `target_tokens`."""
    text = generate_text(prompt_text)
    words = salient_words(prompt_text)
    seed = seed_of(prompt_text)
    n = 0
    while estimate_tokens(text) < target_tokens:
        a, b = words[(seed + n) % len(words)], words[(seed + 3 * n + 1) % len(words)]
        text += " " + _MORE[(seed + n) % len(_MORE)].format(a=a, b=b)
        n += 1
    return text


def reply_length(prompt_text: str, tokens_max: int) -> int:
    """A reply length from the prompt's seed, skewed short: most answers are brief, a few long
    (P(length > x) = 1 - sqrt(x / tokens_max))."""
    u = (seed_of("length:" + prompt_text) % 10_000) / 10_000
    return max(20, int(tokens_max * u * u))


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
    # Two sentences per string: a typed reply of a few list items stays well inside a worker's
    # default max_tokens, as a model answering in JSON is terse; only a long one is cut off.
    text = generate_text(prompt_text, sentences=2)
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
