"""The model layer under faults: retries, plan repair, prompt caching, model tiering."""

from __future__ import annotations

from chorus.contract.models import JobStatus
from tests.support.runner import JobRunner
from tests.support.simulator_control import SimulatorControl


def test_529_on_every_third_call_still_succeeds_with_retries_on_record(
    jobs: JobRunner, sim: SimulatorControl
) -> None:
    sim.set_faults(fail_every=3, fail_status=529)
    record = jobs.run("Explain how vaccines work.", options={"max_subtasks": 5})

    assert record.status is JobStatus.SUCCEEDED, record.error
    assert any(r.attempts > 1 for r in record.results)
    assert sim.stats()["responses_by_status"]["529"] >= 1


def test_an_unparseable_plan_is_repaired_once(jobs: JobRunner, sim: SimulatorControl) -> None:
    sim.set_faults([{"match": "Plan at most", "body": "not a plan", "times": 1}])
    record = jobs.run("Suggest weekend projects.", options={"max_subtasks": 3})

    assert record.status is JobStatus.SUCCEEDED, record.error
    assert sim.stats()["requests_total"] == 2 + len(record.results)


def test_a_shared_block_under_the_workers_cache_minimum_is_sent_plain(
    jobs: JobRunner, sim: SimulatorControl
) -> None:
    # ~1,200 tokens: above Sonnet's minimum (the planner), under Haiku 4.5's 4,096 (the
    # workers). Marking it would buy nothing; the cache-aware cases are in test_prompt_cache.py.
    long_context = {"brief": "A detailed brand guide paragraph. " * 200}
    record = jobs.run("Write taglines.", context=long_context, options={"max_subtasks": 3})

    assert record.status is JobStatus.SUCCEEDED, record.error
    assert len(record.results) >= 2
    assert record.usage.cache_creation_input_tokens == 0
    assert all(r.cache is None for r in record.results)
    assert all(r["usage"]["cache_creation_input_tokens"] == 0 for r in sim.requests())


def test_models_are_tiered_and_overridable_per_job(jobs: JobRunner, sim: SimulatorControl) -> None:
    record = jobs.run(
        "Name a cat.",
        options={"max_subtasks": 2, "orchestrator_model": "claude-opus-5-5",
                 "worker_model": "claude-haiku-4-5"},
    )  # fmt: skip

    assert record.orchestrator_model == "claude-opus-5-5"
    assert all(r.model == "claude-haiku-4-5" for r in record.results)
    assert sim.stats()["requests_by_model"] == {
        "claude-opus-5-5": 1,
        "claude-haiku-4-5": len(record.results),
    }
