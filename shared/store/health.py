"""Whether the store can take work: Redis reachable, and not refusing writes for lack of
memory. One `INFO memory` answers both; the API's readiness check and its `chorus_store_*`
gauges read it with a fail-fast client, so a dead Redis is a quick "no", not a hang."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio
from prometheus_client.core import GaugeMetricFamily, Metric

# What "Redis is away" looks like to a client; BusyLoadingError (a restart still reading its
# data) is a ConnectionError. A replica answering after a failover refuses writes the same.
UNREACHABLE = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ReadOnlyError)


@dataclass(frozen=True)
class StoreHealth:
    up: bool
    used_bytes: int = 0
    max_bytes: int = 0  # 0: Redis has no maxmemory

    @classmethod
    def from_info(cls, info: Mapping[str, Any]) -> StoreHealth:
        return cls(True, int(info.get("used_memory", 0)), int(info.get("maxmemory", 0)))

    @property
    def full(self) -> bool:
        """With `noeviction` (which Chorus needs) Redis refuses writes past maxmemory: the
        same comparison Redis makes, less the buffers it leaves out of it."""
        return self.up and 0 < self.max_bytes < self.used_bytes


def probe(client: redis.Redis) -> StoreHealth:
    try:
        return StoreHealth.from_info(client.info("memory"))
    except UNREACHABLE:
        return StoreHealth(up=False)


async def aprobe(client: redis.asyncio.Redis) -> StoreHealth:
    try:
        return StoreHealth.from_info(await client.info("memory"))
    except UNREACHABLE:
        return StoreHealth(up=False)


def health_families(health: StoreHealth) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "chorus_store_up", "1 when the API reaches Redis, else 0.", value=int(health.up)
    )
    yield GaugeMetricFamily(
        "chorus_store_memory_full",
        "1 when Redis is past maxmemory and refuses writes (submits get 503), else 0.",
        value=int(health.full),
    )
    if health.up:
        yield GaugeMetricFamily(
            "chorus_store_used_memory_bytes", "Redis used_memory.", value=health.used_bytes
        )
        yield GaugeMetricFamily(
            "chorus_store_max_memory_bytes",
            "Redis maxmemory (0: no limit).",
            value=health.max_bytes,
        )
