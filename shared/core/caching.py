"""Prompt caching of a job's shared block (task and context): which calls mark it, with what
TTL, and whether one worker call goes first to warm it. Pure, so every branch is unit-tested.

The Messages API's rules this follows: an entry is per model and per exact prefix (tools,
system, messages, and the structured-output format, which injects a system prompt); it is
usable only once the first response that writes it has begun; a prefix shorter than the
model's minimum is never cached; a write costs 1.25x input (2x with the 1-hour TTL), a read
0.1x, and a read refreshes the entry's TTL. So N parallel calls that all mark the block all
write it, and none reads: 1.25x for nothing. Chorus instead lets the planner write the entry
when it runs on a worker model (planning warms it for free), else sends one worker call
first and releases the rest when its first token arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta

from chorus.contract import limits
from chorus.contract.caching import CacheTtl, CacheUse
from chorus.contract.models import JobRecord, JobRequest, SubtaskResult
from chorus.core import prompts
from chorus.core.pricing import (
    CACHE_READ_MULTIPLIER,
    CACHE_WRITE_1H_MULTIPLIER,
    CACHE_WRITE_MULTIPLIER,
    PER_MILLION,
    ModelPrice,
)

# The smallest prefix a model caches (Anthropic's documented minimums), by name prefix; the
# longest matching prefix wins, settings.cache_min_tokens on top. Unknown models: 1024.
DEFAULT_MIN_TOKENS: dict[str, int] = {
    "claude-opus": 4096,
    "claude-haiku": 4096,
    "claude-haiku-3": 2048,
    "claude-sonnet": 1024,
}
FALLBACK_MIN_TOKENS = 1024
CHARS_PER_TOKEN = 4  # a rough, central guess: near the minimum either answer is harmless


def min_tokens(model: str, overrides: Mapping[str, int] | None = None) -> int:
    table = {**DEFAULT_MIN_TOKENS, **(overrides or {})}
    matches = [p for p in table if model.startswith(p)]
    return table[max(matches, key=len)] if matches else FALLBACK_MIN_TOKENS


def shared_tokens(request: JobRequest) -> int:
    """About how many tokens the shared block holds (instructions, task and context)."""
    return len(prompts.shared_text(request.task, request.context)) // CHARS_PER_TOKEN


def why_not(request: JobRequest, model: str, overrides: Mapping[str, int] | None) -> str | None:
    """Why the job's calls on `model` cannot share a cached block (None: they can)."""
    options = request.options
    if options.cache == "off":
        return "caching off for this job"
    if options.prompts is not None and options.prompts.worker is not None:
        return "the job's worker template places the task itself"
    size, floor = shared_tokens(request), min_tokens(model, overrides)
    if size < floor:
        return f"shared block ~{size} tokens, under {model}'s cache minimum of {floor}"
    return None


def plan_cache(
    request: JobRequest,
    *,
    planner_model: str,
    worker_models: set[str],
    overrides: Mapping[str, int] | None = None,
) -> CacheUse | None:
    """The planning call writes the entry when workers on its model will read it: then the
    plan is asked for in the prompt rather than through the structured-output format (which
    would change the prefix), and validated by Chorus as ever."""
    if planner_model not in worker_models or request.options.output_schema is not None:
        return None  # a write nobody would read costs 1.25x
    if request.options.prompts is not None and request.options.prompts.orchestrator is not None:
        return None
    if why_not(request, planner_model, overrides) is not None:
        return None
    return CacheUse(role="lead", reason="planner writes the shared block")


def warm_saving_usd(tokens: int, calls: int, price: ModelPrice | None) -> float:
    """What warming saves on `calls` calls against sending the block plain: one write, the
    rest reads. Without a price, in dollars at $1 per million input tokens."""
    per_token = (price.input if price else 1.0) / PER_MILLION
    warmed = CACHE_WRITE_MULTIPLIER + CACHE_READ_MULTIPLIER * (calls - 1)
    return round(tokens * per_token * (calls - warmed), 8)


def fanout_cache(
    record: JobRecord,
    models: Mapping[int, str],
    *,
    price_of: Callable[[str], ModelPrice | None],
    overrides: Mapping[str, int] | None = None,
    min_saving_usd: float = 0.0,
    wait_s: float = limits.DEFAULT_CACHE_WARM_WAIT_S,
    now: datetime,
) -> dict[int, CacheUse | None]:
    """How each subtask's call (by index, on `models[index]`) uses the cache."""
    by_model: dict[str, list[int]] = {}
    for index in sorted(models):
        by_model.setdefault(models[index], []).append(index)
    uses: dict[int, CacheUse | None] = {}
    for model, indices in by_model.items():
        for index, use in _group(record, model, indices, price_of(model), now, overrides,
                                 min_saving_usd, wait_s).items():  # fmt: skip
            uses[index] = use
    return uses


def _planner_warmed(record: JobRecord, model: str, now: datetime) -> bool:
    usage = record.planning_usage
    wrote = usage.cache_creation_input_tokens + usage.cache_read_input_tokens > 0
    # A retry's run comes later: the entry may have expired since.
    fresh = not record.runs and now - record.updated_at < timedelta(
        seconds=limits.CACHE_SHORT_TTL_S
    )
    return wrote and model == record.orchestrator_model and fresh and record.plan is not None


def _group(
    record: JobRecord,
    model: str,
    indices: list[int],
    price: ModelPrice | None,
    now: datetime,
    overrides: Mapping[str, int] | None,
    min_saving_usd: float,
    wait_s: float,
) -> dict[int, CacheUse | None]:
    request = record.request
    if why_not(request, model, overrides) is not None:
        return dict.fromkeys(indices)
    if request.options.mode == "batch":
        # A batch's requests run in any order within the hour, with no first token to wait
        # for: all are marked with the 1-hour TTL, as Anthropic advises for batches (their
        # cache hits are best effort).
        if len(indices) < 2 and request.options.cache == "auto":
            return dict.fromkeys(indices)
        batched = CacheUse(ttl="1h", reason="batch: one 1-hour entry for the job's requests")
        return dict.fromkeys(indices, batched)
    if _planner_warmed(record, model, now):
        return dict.fromkeys(indices, CacheUse(reason="read: the planner wrote the entry"))
    mode = request.options.cache
    saving = warm_saving_usd(shared_tokens(request), len(indices), price)
    if mode == "auto" and (len(indices) < 2 or saving < max(min_saving_usd, 1e-9)):
        return dict.fromkeys(indices)  # one call, or too little to gain: send it plain
    lead, *rest = indices
    uses: dict[int, CacheUse | None] = {
        lead: CacheUse(role="lead", reason=f"warms the entry for {len(rest)} other call(s)")
    }
    for index in rest:
        uses[index] = CacheUse(role="follow", wait_s=wait_s, reason="read after the warm-up")
    return uses


def effective_ttl(use: CacheUse, dispatched_at: datetime | None, now: datetime) -> CacheTtl:
    """A call made after its job's subtasks sat queued past the 5-minute TTL writes (and
    refreshes) the entry for an hour: the job's other calls are likely as spread out."""
    if dispatched_at is not None and (now - dispatched_at).total_seconds() > (
        limits.CACHE_SHORT_TTL_S
    ):
        return "1h"
    return use.ttl


def write_multiplier(ttl: CacheTtl) -> float:
    return CACHE_WRITE_1H_MULTIPLIER if ttl == "1h" else CACHE_WRITE_MULTIPLIER


def synthesis_ttl(
    record: JobRecord, results: Collection[SubtaskResult], overrides: Mapping[str, int] | None
) -> CacheTtl | None:
    """The synthesis call reads the job's entry when a call on its model (the planner's)
    wrote or read one; it writes nothing new (nobody would read it)."""
    model = record.orchestrator_model
    request = record.request
    if request.options.synthesis_schema is not None or why_not(request, model, overrides):
        return None
    used = [record.planning_usage] + [r.usage for r in results if r.model == model]
    if any(u.cache_creation_input_tokens + u.cache_read_input_tokens for u in used):
        return "5m"
    return None
