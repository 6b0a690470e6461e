"""Cache-aware fan-out on real processes against the simulator's real caching rules (an entry
is usable only once the response that writes it has begun, per model, above the model's
minimum): a planner on the workers' model writes the entry every worker reads; workers on
another model get one warm-up call and readers behind it."""

from __future__ import annotations

from typing import Any

from chorus.contract.models import JobRecord, JobStatus
from tests.support.runner import JobRunner
from tests.support.simulator_control import SimulatorControl

HAIKU, SONNET = "claude-haiku-5-5", "claude-sonnet-5-5"  # cache minimums 4096 and 1024
# About 5,000 tokens: above either model's minimum.
CONTEXT = {"catalogue": " ".join(f"item{n % 97} blue steel bottle" for n in range(1_000))}
TASK = "Write product copy for the insulated bottle in the catalogue."


def calls_of(sim: SimulatorControl, model: str) -> list[dict[str, Any]]:
    return [r for r in sim.requests() if r["model"] == model and r.get("status") == 200]


def succeeded(record: JobRecord) -> JobRecord:
    assert record.status is JobStatus.SUCCEEDED, record.error
    assert len(record.results) >= 2, "the test needs a plan of two subtasks or more"
    return record


def test_a_planner_on_the_workers_model_writes_the_entry_and_every_worker_reads_it(
    jobs: JobRunner, sim: SimulatorControl
) -> None:
    options = {"orchestrator_model": HAIKU, "worker_model": HAIKU, "max_subtasks": 4}
    record = succeeded(jobs.run(TASK, context=CONTEXT, options=options))

    planning, *workers = calls_of(sim, HAIKU)
    assert len(workers) == len(record.results)
    assert planning["usage"]["cache_creation_input_tokens"] > 4096
    assert planning["usage"]["cache_read_input_tokens"] == 0
    written = planning["usage"]["cache_creation_input_tokens"]
    for call in workers:  # one write in the whole job, N reads of it
        assert call["usage"]["cache_creation_input_tokens"] == 0
        assert call["usage"]["cache_read_input_tokens"] == written
    assert record.planning_usage.cache_creation_input_tokens == written
    for result in record.results:
        assert result.usage.cache_read_input_tokens == written
        assert result.cache == "read: the planner wrote the entry"
        assert result.usage.cache_saving_usd > 0  # 0.9 of the block's input price
    assert record.usage.cache_saving_usd > 0


def test_workers_on_another_model_get_one_warm_up_call_and_readers_behind_it(
    jobs: JobRunner, sim: SimulatorControl
) -> None:
    options = {"orchestrator_model": SONNET, "worker_model": HAIKU, "max_subtasks": 4}
    record = succeeded(jobs.run(TASK, context=CONTEXT, options=options))

    (planning,) = calls_of(sim, SONNET)
    assert planning["usage"]["cache_creation_input_tokens"] == 0  # nobody would read it
    lead, *followers = sorted(calls_of(sim, HAIKU), key=lambda c: c["started_at"])
    assert lead["usage"]["cache_creation_input_tokens"] > 4096
    written = lead["usage"]["cache_creation_input_tokens"]
    for call in followers:  # released by the lead's first token, so they read
        assert call["started_at"] >= lead["first_token_at"]
        assert call["usage"]["cache_read_input_tokens"] == written
        assert call["usage"]["cache_creation_input_tokens"] == 0
    reasons = sorted(r.cache or "" for r in record.results)
    others = len(record.results) - 1
    assert reasons == ["read after the warm-up"] * others + [
        f"warms the entry for {others} other call(s)"
    ]
    assert record.usage.cache_saving_usd > 0


def test_cache_off_marks_nothing_and_sends_every_call_at_once(
    jobs: JobRunner, sim: SimulatorControl
) -> None:
    options = {"orchestrator_model": HAIKU, "worker_model": HAIKU, "cache": "off"}
    record = succeeded(jobs.run(TASK, context=CONTEXT, options={**options, "max_subtasks": 4}))
    for call in calls_of(sim, HAIKU):
        assert call["usage"]["cache_creation_input_tokens"] == 0
        assert call["usage"]["cache_read_input_tokens"] == 0
    assert all(r.cache is None for r in record.results)
    assert record.usage.cache_saving_usd == 0
