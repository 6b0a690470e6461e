"""Fleet-wide Prometheus metrics, kept in one Redis hash.

Every Chorus process increments the same hash, inside the transaction that makes the event
happen (a job created, a job finalised, a subtask result recorded), so a redelivery counts
nothing twice and one scrape of `/metrics` on the API covers the whole fleet, however many
worker processes run on however many machines. The functions that name fields and compute
increments are pure; `FleetCollector` is the only part that reads Redis.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Mapping

import redis
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from shared import constants
from shared.models import JobRecord, JobStatus, SubtaskResult, Usage

# Model calls take seconds; the buckets span a fast cached reply to a long retried subtask.
LATENCY_BUCKETS_S: tuple[float, ...] = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
TOKEN_KINDS = ("input", "output", "cache_creation_input", "cache_read_input")
# Kombu's Redis transport keeps delivered-but-unacknowledged messages in this hash.
KOMBU_UNACKED_KEY = "unacked"

JOBS_SUBMITTED = "jobs_submitted"


def jobs_finished_field(status: JobStatus) -> str:
    return f"jobs_finished:{status.value}"


def retries_field(stage: str) -> str:
    return f"retries:{stage}"


def token_increments(model: str | None, usage: Usage) -> dict[str, float]:
    counts = {
        "input": usage.input_tokens,
        "output": usage.output_tokens,
        "cache_creation_input": usage.cache_creation_input_tokens,
        "cache_read_input": usage.cache_read_input_tokens,
    }
    name = model or "unknown"
    return {f"tokens:{name}:{kind}": n for kind, n in counts.items() if n}


def latency_bucket(seconds: float) -> str:
    """The smallest bucket bound the value fits under, as stored (non-cumulative)."""
    for bound in LATENCY_BUCKETS_S:
        if seconds <= bound:
            return f"subtask_seconds_bucket:{bound:g}"
    return "subtask_seconds_bucket:+Inf"


def result_increments(result: SubtaskResult) -> dict[str, float]:
    """What recording this final subtask result adds to the fleet's counters."""
    increments: dict[str, float] = {f"subtasks_finished:{result.status.value}": 1}
    if result.started_at is not None and result.finished_at is not None:
        seconds = max(0.0, (result.finished_at - result.started_at).total_seconds())
        increments[latency_bucket(seconds)] = 1
        increments["subtask_seconds_sum"] = seconds
        increments["subtask_seconds_count"] = 1
    increments.update(token_increments(result.model, result.usage))
    return increments


def finalised_increments(before: JobRecord, after: JobRecord) -> dict[str, float]:
    """Counters for a record change: a job reaching a final status counts once, with the
    synthesis call's tokens (the only model call not counted where it happens)."""
    if before.status.is_final or not after.status.is_final:
        return {}
    increments: dict[str, float] = {jobs_finished_field(after.status): 1}
    increments.update(token_increments(after.orchestrator_model, after.synthesis_usage))
    return increments


def _as_number(raw: str) -> float:
    value = float(raw)
    return value if not math.isnan(value) else 0.0


class FleetCollector(Collector):
    """Builds the metric families from the Redis hash and the queues at scrape time."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def collect(self) -> Iterator[Metric]:
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(constants.METRICS_KEY)
            for queue in (constants.ORCHESTRATOR_QUEUE, constants.SUBTASKS_QUEUE):
                pipe.llen(queue)
            pipe.hlen(KOMBU_UNACKED_KEY)
            raw, orchestrator_depth, subtasks_depth, unacked = pipe.execute()
        yield from families(raw)
        depth = GaugeMetricFamily(
            "chorus_queue_depth", "Messages waiting in a Chorus queue.", labels=["queue"]
        )
        depth.add_metric([constants.ORCHESTRATOR_QUEUE], orchestrator_depth)
        depth.add_metric([constants.SUBTASKS_QUEUE], subtasks_depth)
        yield depth
        yield GaugeMetricFamily(
            "chorus_messages_unacked",
            "Messages delivered to a worker and not yet acknowledged (in flight).",
            value=unacked,
        )


def families(raw: Mapping[str, str]) -> Iterator[Metric]:
    """Metric families from the stored hash (pure: unit-tested without Redis)."""
    values = {field: _as_number(v) for field, v in raw.items()}
    yield CounterMetricFamily(
        "chorus_jobs_submitted",
        "Jobs accepted into the store.",
        value=values.get(JOBS_SUBMITTED, 0),
    )
    finished = CounterMetricFamily(
        "chorus_jobs_finished", "Jobs that reached a final status.", labels=["status"]
    )
    for status in JobStatus:
        if status.is_final:
            finished.add_metric([status.value], values.get(jobs_finished_field(status), 0))
    yield finished
    subtasks = CounterMetricFamily(
        "chorus_subtasks_finished", "Subtask results recorded.", labels=["status"]
    )
    tokens = CounterMetricFamily(
        "chorus_model_tokens", "Model tokens used, by model and kind.", labels=["model", "kind"]
    )
    retries = CounterMetricFamily(
        "chorus_retries", "Model calls retried or re-queued, by stage.", labels=["stage"]
    )
    for field, value in sorted(values.items()):
        prefix, _, rest = field.partition(":")
        if prefix == "subtasks_finished":
            subtasks.add_metric([rest], value)
        elif prefix == "tokens":
            model, _, kind = rest.rpartition(":")
            tokens.add_metric([model, kind], value)
        elif prefix == "retries":
            retries.add_metric([rest], value)
    yield subtasks
    yield tokens
    yield retries
    yield _latency_histogram(values)


def _latency_histogram(values: Mapping[str, float]) -> HistogramMetricFamily:
    per_bucket: dict[str, float] = defaultdict(float)
    for field, value in values.items():
        prefix, _, bound = field.partition(":")
        if prefix == "subtask_seconds_bucket":
            per_bucket[bound] = value
    cumulative, running = [], 0.0
    for bound in [f"{b:g}" for b in LATENCY_BUCKETS_S] + ["+Inf"]:
        running += per_bucket.get(bound, 0)
        cumulative.append((bound, running))
    return HistogramMetricFamily(
        "chorus_subtask_duration_seconds",
        "Subtask time from first start to recorded result, retries included.",
        buckets=cumulative,
        sum_value=values.get("subtask_seconds_sum", 0),
    )
