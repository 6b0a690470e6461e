"""The cache decisions (chorus.core.caching): which calls mark the shared block, who warms it,
with what TTL, and what warming saves."""

from datetime import timedelta

import pytest

from chorus.contract.caching import CacheUse
from chorus.contract.models import JobOptions, JobRecord, JobRequest, SubtaskResult, Usage
from chorus.core import caching
from chorus.core.pricing import DEFAULT_PRICES
from tests.support.factories import T0, result
from tests.support.standins import planned_record

BIG = {"document": "word " * 30_000}  # ~37,500 tokens at 4 characters a token
ORCH, WORKER = "orch-model", "worker-model"


def big_record(n: int = 5, **options: object) -> JobRecord:
    return planned_record(n, context=BIG, options=JobOptions.model_validate(options))


def fanout(record: JobRecord, **kw: object) -> dict[int, CacheUse | None]:
    models = {s.index: WORKER for s in record.plan.subtasks} if record.plan else {}
    args: dict[str, object] = {"price_of": DEFAULT_PRICES.get, "now": T0} | kw
    models = args.pop("models", models)  # type: ignore[assignment]
    return caching.fanout_cache(record, models, **args)  # type: ignore[arg-type]


def roles(uses: dict[int, CacheUse | None]) -> list[str | None]:
    return [u.role if u else None for _, u in sorted(uses.items())]


def test_the_minimum_prefix_is_the_longest_matching_name_prefix_then_the_settings() -> None:
    assert caching.min_tokens("claude-opus-5-5") == 4096
    assert caching.min_tokens("claude-sonnet-4-6") == 1024
    assert caching.min_tokens("claude-haiku-3-5") == 2048  # "claude-haiku-3" beats "claude-haiku"
    assert caching.min_tokens("my-model") == caching.FALLBACK_MIN_TOKENS
    assert caching.min_tokens("claude-sonnet-4-6", {"claude-sonnet-4": 2048}) == 2048


def test_the_planner_writes_the_entry_only_when_a_worker_on_its_model_will_read_it() -> None:
    request = JobRequest(task="t", context=BIG)
    lead = caching.plan_cache(request, planner_model="m", worker_models={"m"})
    assert lead is not None and lead.role == "lead" and lead.ttl == "5m"
    assert caching.plan_cache(request, planner_model="o", worker_models={"w"}) is None
    tiered = caching.plan_cache(request, planner_model="o", worker_models={"w", "o"})
    assert tiered is not None


@pytest.mark.parametrize(
    "options",
    [
        {"cache": "off"},
        {"output_schema": {"type": "object", "properties": {"a": {"type": "string"}}}},
        {"prompts": {"orchestrator": "Plan {task}"}},
        {"prompts": {"worker": "Do {task_description}"}},
    ],
)
def test_the_planner_writes_nothing_when_the_workers_cannot_share_its_prefix(
    options: dict[str, object],
) -> None:
    request = JobRequest(task="t", context=BIG, options=JobOptions.model_validate(options))
    assert caching.plan_cache(request, planner_model="m", worker_models={"m"}) is None


def test_a_shared_block_under_the_models_minimum_is_never_marked() -> None:
    small = JobRequest(task="t", context={"a": "b"})
    assert caching.plan_cache(small, planner_model="m", worker_models={"m"}) is None
    assert roles(fanout(planned_record(5))) == [None] * 5


def test_warming_saves_all_but_one_write_and_the_reads() -> None:
    sonnet = DEFAULT_PRICES["claude-sonnet-5-5"]  # $3 per million input
    # Plain: 5 x 20k at 1x. Warmed: one write at 1.25x, four reads at 0.1x.
    assert caching.warm_saving_usd(20_000, 5, sonnet) == pytest.approx(20_000 * 3e-6 * 3.35)
    assert caching.warm_saving_usd(20_000, 1, sonnet) < 0  # a lonely write costs more
    assert caching.warm_saving_usd(1_000_000, 2, None) == pytest.approx(0.65)


def test_workers_on_another_model_than_the_planner_get_one_lead_and_followers() -> None:
    uses = fanout(big_record(5), wait_s=12.0)
    assert roles(uses) == ["lead", "follow", "follow", "follow", "follow"]
    assert {u.wait_s for u in uses.values() if u and u.role == "follow"} == {12.0}
    assert all(u is not None and u.ttl == "5m" for u in uses.values())


def test_each_worker_model_warms_its_own_entry() -> None:
    models = {0: "a", 1: "b", 2: "a", 3: "b"}
    assert roles(fanout(big_record(4), models=models)) == ["lead", "lead", "follow", "follow"]


def test_when_the_planner_wrote_the_entry_on_the_workers_model_every_call_reads_at_once() -> None:
    record = big_record(3)
    record = record.model_copy(
        update={
            "orchestrator_model": WORKER,
            "planning_usage": Usage(cache_creation_input_tokens=9_000),
        }
    )
    uses = fanout(record, now=record.updated_at + timedelta(seconds=30))
    assert roles(uses) == ["free"] * 3
    stale = fanout(record, now=record.updated_at + timedelta(minutes=6))  # entry expired
    assert roles(stale) == ["lead", "follow", "follow"]
    unwritten = record.model_copy(update={"planning_usage": Usage(input_tokens=9_000)})
    assert roles(fanout(unwritten)) == ["lead", "follow", "follow"]


def test_auto_sends_a_lone_call_or_a_tiny_saving_plain_and_warm_forces_the_warm_up() -> None:
    assert roles(fanout(big_record(1))) == [None]
    assert roles(fanout(big_record(1, cache="warm"))) == ["lead"]
    assert roles(fanout(big_record(3), min_saving_usd=100.0)) == [None] * 3
    assert roles(fanout(big_record(3, cache="warm"), min_saving_usd=100.0)) == [
        "lead", "follow", "follow",
    ]  # fmt: skip
    assert roles(fanout(big_record(3, cache="off"))) == [None] * 3


def test_a_batch_jobs_requests_share_one_1_hour_entry_with_no_warm_up() -> None:
    uses = fanout(big_record(3, mode="batch"))
    assert roles(uses) == ["free"] * 3
    assert {u.ttl for u in uses.values() if u} == {"1h"}
    assert roles(fanout(big_record(1, mode="batch"))) == [None]  # nobody would read it
    assert roles(fanout(big_record(3, mode="batch", cache="off"))) == [None] * 3


def test_a_call_made_after_its_job_sat_queued_past_5_minutes_writes_for_an_hour() -> None:
    use = CacheUse(role="lead")
    assert caching.effective_ttl(use, T0, T0 + timedelta(minutes=4)) == "5m"
    assert caching.effective_ttl(use, T0, T0 + timedelta(minutes=6)) == "1h"
    assert caching.effective_ttl(use, None, T0 + timedelta(hours=1)) == "5m"
    assert caching.write_multiplier("1h") == 2.0 and caching.write_multiplier("5m") == 1.25


def test_synthesis_reads_an_entry_a_call_on_its_model_wrote() -> None:
    record = big_record(2)
    assert caching.synthesis_ttl(record, [], None) is None  # nothing cached on its model
    warmed = record.model_copy(update={"planning_usage": Usage(cache_read_input_tokens=5)})
    assert caching.synthesis_ttl(warmed, [], None) == "5m"
    read: SubtaskResult = result(0).model_copy(
        update={"model": ORCH, "usage": Usage(cache_read_input_tokens=5)}
    )
    assert caching.synthesis_ttl(record, [read], None) == "5m"
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    typed = warmed.model_copy(
        update={"request": warmed.request.model_copy(update={"options": JobOptions(
            synthesis_schema=schema)})}
    )  # fmt: skip
    assert caching.synthesis_ttl(typed, [], None) is None
