"""The one Redis client factory (blocking, and asyncio for the API's event streams) and the
one TLS helper, for Chorus's own clients and for Celery's broker and result backend alike."""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from chorus.contract import limits
from chorus.settings import Settings
from chorus.store import sentinel
from chorus.store.sentinel import is_sentinel_url


def redis_client(settings: Settings, *, fail_fast: bool = False) -> redis.Redis:
    """Chorus's own Redis connections. A Redis restart is ridden out in the client: commands
    retry with capped backoff for about `redis_retry_s`, so a worker holding a finished model
    call saves its result when Redis is back instead of failing the subtask.

    `fail_fast` is for someone waiting on the answer (an HTTP request, a CLI command): short
    socket timeouts and no retry loop, so Redis being away is an error within
    `limits.FAIL_FAST_REDIS_S` rather than a minute of silence.

    With a sentinel:// URL every (re)connect asks the sentinels for the current master, so
    the same retry loop rides out a failover (`chorus.store.sentinel`).

    The pool holds a connection for every thread a process runs, and a thread that finds it
    empty waits for one instead of failing (redis-py's own pool stops at 100 connections and
    then raises, which a worker with 200 threads reaches under load)."""
    options = _options(settings)
    retries = _retries(settings)
    if fail_fast:
        options.update(_fail_fast_options())
        retries = 0
    options["max_connections"] = pool_size(settings)
    options["retry"] = Retry(_backoff(), retries=retries)
    url = settings.redis_url.get_secret_value()
    if is_sentinel_url(url):
        wait = _sentinel_wait(fail_fast)
        pool = sentinel.master_pool(settings, sentinel_timeout_s=wait, **options)
    else:
        pool = redis.BlockingConnectionPool.from_url(url, **options)
    return redis.Redis(connection_pool=pool)


def pool_size(settings: Settings) -> int:
    """Connections a process's Redis pool may hold: one for each of its threads, and spare."""
    threads = max(settings.worker_concurrency, settings.orchestrator_concurrency)
    return threads + limits.REDIS_POOL_HEADROOM


def async_redis_client(
    settings: Settings, *, max_connections: int, fail_fast: bool = False, block_s: float = 0.0
) -> redis.asyncio.Redis:
    """The same connections for asyncio code: many followers of event streams share one
    event loop, each holding a connection while it waits, none holding a thread.

    `block_s`: the longest a command may wait on the server (XREAD BLOCK). A fail-fast
    client's replies may take that much longer, or every blocking read would time out."""
    options = _options(settings)
    retries = _retries(settings)
    if fail_fast:
        options.update(_fail_fast_options())
        options["socket_timeout"] += block_s
        retries = 0
    options["max_connections"] = max_connections
    options["retry"] = AsyncRetry(_backoff(), retries=retries)
    url = settings.redis_url.get_secret_value()
    if is_sentinel_url(url):
        wait = _sentinel_wait(fail_fast)
        pool = sentinel.async_master_pool(settings, sentinel_timeout_s=wait, **options)
    else:
        pool = redis.asyncio.BlockingConnectionPool.from_url(url, **options)
    return redis.asyncio.Redis(connection_pool=pool)


def _fail_fast_options() -> dict[str, Any]:
    wait = limits.FAIL_FAST_REDIS_S / 2
    return {"timeout": wait, "socket_timeout": wait, "socket_connect_timeout": wait}


def _sentinel_wait(fail_fast: bool) -> float:
    return limits.FAIL_FAST_REDIS_S / 2 if fail_fast else limits.REDIS_CONNECT_TIMEOUT_S


def redis_location(settings: Settings) -> str:
    """Where Redis is, for people: scheme, host, port and database, the password masked; for
    Sentinel, every sentinel and the master's name."""
    url = settings.redis_url.get_secret_value()
    if is_sentinel_url(url):
        return sentinel.describe(url, settings.redis_sentinel_master)
    parts = urlsplit(url)
    netloc = parts.hostname or "localhost"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    if parts.password:
        netloc = f"{parts.username or ''}:***@{netloc}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _backoff() -> ExponentialBackoff:
    return ExponentialBackoff(cap=2.0, base=0.1)


def _retries(settings: Settings) -> int:
    return max(1, int(settings.redis_retry_s / 2))


def _options(settings: Settings) -> dict[str, Any]:
    return {
        "timeout": limits.REDIS_SOCKET_TIMEOUT_S,  # how long to wait for a free connection
        "decode_responses": True,
        "socket_timeout": limits.REDIS_SOCKET_TIMEOUT_S,
        "socket_connect_timeout": limits.REDIS_CONNECT_TIMEOUT_S,
        "health_check_interval": limits.REDIS_HEALTH_CHECK_S,
        # ReadOnlyError: a write reached a master demoted by a failover (or, behind a
        # failover DNS name, the old address); reconnecting finds the new master.
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError],
        **tls_options(settings),
    }


def tls_options(settings: Settings) -> dict[str, Any]:
    """For rediss:// URLs: verify the server certificate (against `redis_tls_ca_file` when
    set, else the system store). Never off: kombu and Celery's Redis backend would skip the
    check for rediss:// when given no options, so they get these too. A sentinel:// URL gets
    none: Chorus reaches sentinels and data nodes without TLS (docs/reliability.md)."""
    if not settings.redis_url.get_secret_value().startswith("rediss://"):
        return {}
    options: dict[str, Any] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    if settings.redis_tls_ca_file:
        options["ssl_ca_certs"] = settings.redis_tls_ca_file
    return options
