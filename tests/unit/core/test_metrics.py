"""Metric fields and families are pure: what a scrape shows for given stored counters."""

from datetime import timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from chorus.contract.models import JobStatus, Usage
from chorus.core import metrics, records
from chorus.store.metrics import families
from tests.support.factories import T0, result, running


def _render(raw: dict[str, str]) -> str:
    class Fixed(Collector):
        def collect(self):  # type: ignore[no-untyped-def]
            return families(raw)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed())
    return generate_latest(registry).decode()


def test_a_result_counts_its_status_latency_bucket_and_tokens() -> None:
    done = result(0).model_copy(
        update={"model": "m", "started_at": T0, "finished_at": T0 + timedelta(seconds=0.7)}
    )
    increments = metrics.result_increments(done)
    assert increments["subtasks_finished:succeeded"] == 1
    assert increments["subtask_seconds_bucket:1"] == 1  # 0.7 s falls under the 1 s bound
    assert abs(increments["subtask_seconds_sum"] - 0.7) < 1e-9
    assert increments["tokens:m:input"] == 1 and increments["tokens:m:output"] == 1


def test_slow_subtasks_land_in_the_infinite_bucket() -> None:
    assert metrics.latency_bucket(10_000) == "subtask_seconds_bucket:+Inf"
    assert metrics.latency_bucket(0.05) == "subtask_seconds_bucket:0.1"


def test_a_job_counts_as_finished_once_on_its_final_transition_only() -> None:
    job = running(1)
    final = records.finalized(job, {0: result(0)}, T0)
    assert metrics.finalised_increments(job, final) == {"jobs_finished:succeeded": 1}
    assert metrics.finalised_increments(final, final) == {}  # already final: nothing again
    assert metrics.finalised_increments(job, job) == {}


def test_synthesis_tokens_are_counted_with_the_finished_job() -> None:
    job = running(1)
    synthesis = records.Synthesis(text="s", usage=Usage(output_tokens=7))
    final = records.finalized(job, {0: result(0)}, T0, synthesis)
    increments = metrics.finalised_increments(job, final)
    assert increments[f"tokens:{final.orchestrator_model}:output"] == 7


def test_families_render_cumulative_histogram_and_labelled_counters() -> None:
    text = _render(
        {
            "jobs_submitted": "3",
            "jobs_finished:succeeded": "2",
            "subtasks_finished:failed": "1",
            "subtask_seconds_bucket:0.5": "2",
            "subtask_seconds_bucket:5": "1",
            "subtask_seconds_sum": "4.5",
            "tokens:claude-x:output": "40",
            "retries:subtask": "5",
        }
    )
    assert "chorus_jobs_submitted_total 3.0" in text
    assert 'chorus_jobs_finished_total{status="succeeded"} 2.0' in text
    assert 'chorus_jobs_finished_total{status="failed"} 0.0' in text
    assert 'chorus_subtasks_finished_total{status="failed"} 1.0' in text
    assert 'chorus_subtask_duration_seconds_bucket{le="0.25"} 0.0' in text
    assert 'chorus_subtask_duration_seconds_bucket{le="1"} 2.0' in text
    assert 'chorus_subtask_duration_seconds_bucket{le="+Inf"} 3.0' in text
    assert "chorus_subtask_duration_seconds_count 3.0" in text
    assert 'chorus_model_tokens_total{kind="output",model="claude-x"} 40.0' in text
    assert 'chorus_retries_total{stage="subtask"} 5.0' in text


def test_every_final_status_has_a_series() -> None:
    text = _render({})
    for status in JobStatus:
        if status.is_final:
            assert f'chorus_jobs_finished_total{{status="{status.value}"}}' in text


def test_spend_is_counted_by_model_and_tenant_in_tokens_and_dollars() -> None:
    usage = Usage(input_tokens=100, output_tokens=20, cache_read_input_tokens=5, cost_usd=0.25)
    assert metrics.token_increments("claude-x", usage, "alice") == {
        "tokens:claude-x:input": 100,
        "tokens:claude-x:output": 20,
        "tokens:claude-x:cache_read_input": 5,
        "tenant_tokens:alice:input": 100,
        "tenant_tokens:alice:output": 20,
        "tenant_tokens:alice:cache_read_input": 5,
        "cost:claude-x:alice": 0.25,
    }
    # No tenant (the CLI, a Celery client): counted under "default"; nothing free is counted.
    found = metrics.token_increments("m", Usage(output_tokens=3))
    assert found == {"tokens:m:output": 3, "tenant_tokens:default:output": 3}


def test_a_result_and_a_finished_job_count_under_the_jobs_tenant() -> None:
    paid = result(0).model_copy(update={"model": "w", "usage": Usage(output_tokens=4, cost_usd=1)})
    assert metrics.result_increments(paid, "bob")["cost:w:bob"] == 1
    job = running(1)
    job = job.model_copy(update={"request": job.request.model_copy(update={"tenant": "bob"})})
    synthesis = records.Synthesis(text="s", usage=Usage(output_tokens=7, cost_usd=0.5))
    final = records.finalized(job, {0: result(0)}, T0, synthesis)
    increments = metrics.finalised_increments(job, final)
    assert increments[f"cost:{final.orchestrator_model}:bob"] == 0.5
    assert increments["tenant_tokens:bob:output"] == 7


def test_cost_and_tenant_tokens_render_with_their_labels() -> None:
    text = _render(
        {
            "cost:anthropic:claude-x:alice": "0.125",
            "tenant_tokens:alice:output": "40",
            "tenant_tokens:default:input": "9",
        }
    )
    # A model name may hold ':'; tenants and kinds may not: the last ':' splits the field.
    assert 'chorus_cost_usd_total{model="anthropic:claude-x",tenant="alice"} 0.125' in text
    assert 'chorus_tenant_tokens_total{kind="output",tenant="alice"} 40.0' in text
    assert 'chorus_tenant_tokens_total{kind="input",tenant="default"} 9.0' in text
