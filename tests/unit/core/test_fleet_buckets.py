"""Which fields an event adds to its minute's fleet bucket, and reading a tenant's spend back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chorus.contract.models import JobStatus, Usage
from chorus.core import fleet_buckets, metrics, records
from tests.support.factories import T0, result, running


def test_a_result_adds_its_dollars_by_model_and_tenant_and_one_subtask_finished() -> None:
    paid = result(0).model_copy(update={"model": "m", "usage": Usage(cost_usd=0.25)})
    minute = fleet_buckets.minute_increments(metrics.result_increments(paid, "alice"), "alice")
    assert minute == {"cost:m:alice": 0.25, "subtasks_finished": 1}


def test_a_free_result_adds_no_dollar_field_and_token_counts_stay_out_of_the_bucket() -> None:
    minute = fleet_buckets.minute_increments(metrics.result_increments(result(0), None), None)
    assert minute == {"subtasks_finished": 1}


def test_a_finalised_job_counts_once_fleet_wide_and_for_its_tenant_with_its_synthesis_cost() -> (
    None
):
    before = running()
    before = before.model_copy(
        update={"request": before.request.model_copy(update={"tenant": "bob"})}
    )
    after = before.model_copy(
        update={"status": JobStatus.SUCCEEDED, "synthesis_usage": Usage(cost_usd=0.5)}
    )
    increments = metrics.finalised_increments(before, after)
    minute = fleet_buckets.minute_increments(increments, "bob")
    assert minute == {"jobs_finished": 1, "jobs_finished:bob": 1, "cost:o:bob": 0.5}
    # The same record written again (a retried transition) is not a finalisation.
    assert fleet_buckets.minute_increments(metrics.finalised_increments(after, after), "bob") == {}


def test_a_job_with_no_tenant_counts_under_the_default_tenant() -> None:
    done = records.with_cancellation(running(), T0)
    minute = fleet_buckets.minute_increments(metrics.finalised_increments(running(), done), None)
    assert minute["jobs_finished:default"] == 1


def test_planning_spend_adds_only_its_dollars() -> None:
    increments = metrics.token_increments("o", Usage(input_tokens=9, cost_usd=0.1), "carol")
    assert fleet_buckets.minute_increments(increments, "carol") == {"cost:o:carol": 0.1}


def test_an_epoch_minute_is_the_same_for_a_datetime_and_its_timestamp() -> None:
    at = datetime(2026, 1, 1, 0, 1, 59, tzinfo=UTC)
    assert fleet_buckets.epoch_minute(at) == fleet_buckets.epoch_minute(at.timestamp())
    assert (
        fleet_buckets.epoch_minute(at + timedelta(seconds=1)) == fleet_buckets.epoch_minute(at) + 1
    )


def test_a_tenant_reads_only_its_own_spend_by_model_even_for_models_with_colons() -> None:
    bucket = {
        "cost:claude:haiku:alice": "0.5",
        "cost:sonnet:alice": "1.25",
        "cost:sonnet:bob": "7",
        "cost:sonnet:alice2": "3",
        "jobs_finished:alice": "2",
    }
    assert fleet_buckets.cost_by_model(bucket, "alice") == {"claude:haiku": 0.5, "sonnet": 1.25}
    assert fleet_buckets.cost_by_model(bucket, "carol") == {}
