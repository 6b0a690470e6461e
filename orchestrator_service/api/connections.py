"""The API's connections to Redis, every one fail-fast: someone waits on each request, so
Redis away (refused, or hung) is a 503 within `limits.FAIL_FAST_REDIS_S`, not a minute of
client retries, and the request threads are soon free again."""

from __future__ import annotations

import resource
from dataclasses import dataclass

import redis.asyncio

from chorus.contract import limits
from chorus.runtime.app import ChorusCelery, create_celery_app
from chorus.settings import Settings
from chorus.store.connection import async_redis_client, redis_client
from chorus.store.events import AsyncJobEvents
from chorus.store.jobs import JobStore

PROBE_CONNECTIONS = 4


@dataclass(frozen=True)
class ApiConnections:
    store: JobStore
    celery: ChorusCelery
    events: AsyncJobEvents  # the event streams' own pool, one connection per open stream
    probe: redis.asyncio.Redis  # readiness: never queued behind the streams

    async def close(self) -> None:
        await self.events.close()
        await self.probe.aclose()


def api_connections(settings: Settings) -> ApiConnections:
    events = async_redis_client(
        settings,
        max_connections=limits.API_STREAM_CONNECTIONS,
        fail_fast=True,
        block_s=limits.STREAM_KEEPALIVE_S,
    )
    return ApiConnections(
        store=JobStore(
            redis_client(settings, fail_fast=True),
            ttl_s=settings.job_ttl_s,
            delta_linger_s=settings.delta_linger_s,
        ),
        celery=api_celery(settings),
        events=AsyncJobEvents(events),
        probe=async_redis_client(settings, max_connections=PROBE_CONNECTIONS, fail_fast=True),
    )


def api_celery(settings: Settings) -> ChorusCelery:
    """A publisher with no retry of its own: the caller's retry is the one that counts.

    No result backend: the API never reads a task's result, and with one Celery subscribes
    to each sent task's result channel first, through the backend's own retry loop (seconds
    of it with Redis away, then a RuntimeError rather than a connection error)."""
    app = create_celery_app(settings, fail_fast=True)
    transport = {
        **app.conf.broker_transport_options,
        # No second attempt on a timeout, no reconnect loop before the publish.
        "retry_on_timeout": False,
        "max_retries": 0,
    }
    app.conf.update(
        broker_transport_options=transport, task_publish_retry=False, result_backend=None
    )
    return app


def allow_open_streams() -> None:
    """Each open event stream holds two sockets (its client's, and a Redis connection): lift
    the soft open-files limit (1024 on many systems) to the hard one, so a full stream pool
    cannot starve the process of sockets for every other request."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * limits.API_STREAM_CONNECTIONS + 1024
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
