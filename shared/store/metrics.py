"""Fleet-wide Prometheus metrics read from the one Redis hash every process increments, plus
the queues' depth, at scrape time: one scrape covers every worker on every machine."""

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

from chorus.contract import names
from chorus.contract.models import JobStatus
from chorus.core.metrics import (
    JOBS_SUBMITTED,
    LATENCY_BUCKETS_S,
    jobs_finished_field,
)

# Kombu's Redis transport keeps delivered-but-unacknowledged messages in this hash.
KOMBU_UNACKED_KEY = "unacked"


def _as_number(raw: str) -> float:
    value = float(raw)
    return value if not math.isnan(value) else 0.0


class FleetCollector(Collector):
    """Builds the metric families from the Redis hash and the queues at scrape time."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def collect(self) -> Iterator[Metric]:
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(names.METRICS_KEY)
            for queue in (names.ORCHESTRATOR_QUEUE, names.SUBTASKS_QUEUE):
                pipe.llen(queue)
            pipe.hlen(KOMBU_UNACKED_KEY)
            raw, orchestrator_depth, subtasks_depth, unacked = pipe.execute()
        yield from families(raw)
        depth = GaugeMetricFamily(
            "chorus_queue_depth", "Messages waiting in a Chorus queue.", labels=["queue"]
        )
        depth.add_metric([names.ORCHESTRATOR_QUEUE], orchestrator_depth)
        depth.add_metric([names.SUBTASKS_QUEUE], subtasks_depth)
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
    by_tenant = CounterMetricFamily(
        "chorus_tenant_tokens",
        "Model tokens used, by tenant and kind ('default': jobs without a tenant).",
        labels=["tenant", "kind"],
    )
    cost = CounterMetricFamily(
        "chorus_cost_usd",
        "Dollars spent on model calls at the configured prices, by model and tenant.",
        labels=["model", "tenant"],
    )
    retries = CounterMetricFamily(
        "chorus_retries", "Model calls retried or re-queued, by stage.", labels=["stage"]
    )
    for field, value in sorted(values.items()):
        prefix, _, rest = field.partition(":")
        # Kinds and tenants have no ':'; a model name may: split each field on its last ':'.
        head, _, last = rest.rpartition(":")
        if prefix == "subtasks_finished":
            subtasks.add_metric([rest], value)
        elif prefix == "tokens":
            tokens.add_metric([head, last], value)
        elif prefix == "tenant_tokens":
            by_tenant.add_metric([head, last], value)
        elif prefix == "cost":
            cost.add_metric([head, last], value)
        elif prefix == "retries":
            retries.add_metric([rest], value)
    yield subtasks
    yield tokens
    yield by_tenant
    yield cost
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
