"""The Celery app of Chorus, built by a function: importing this module builds nothing.

`create_celery_app(settings)` gives a client app (anything that only enqueues);
`chorus.runtime.main` builds the worker app of an orchestrator or worker process.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

import redis
from celery import Celery

from chorus.contract import limits, names
from chorus.core.ports import TaskDeps
from chorus.runtime.backend_compat import with_blocking_pool, without_property_locks
from chorus.settings import Settings, load_settings
from chorus.store import sentinel
from chorus.store.batches import BatchCollector
from chorus.store.connection import pool_size, redis_client, tls_options
from chorus.store.events import JobEvents
from chorus.store.jobs import JobStore
from chorus.store.rate_limits import RateLimiter

if TYPE_CHECKING:  # the consumer imports Celery's worker: only worker processes load it
    from chorus.runtime.consumer import SentEvents


class ChorusCelery(Celery):  # type: ignore[misc]
    """A Celery app that carries the process's Settings and its lazily built dependencies."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__("chorus", **kwargs)
        self.settings = settings
        # Set by a worker process's consumer (`runtime.consumer`): its buffered task events.
        self.sent_events: SentEvents | None = None

    def send_task(self, name: str, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        """Every message Chorus sends (submits, chord parts and callbacks, retries) names its
        job in a header, so the reconciler can tell a job with work in flight from one without.
        In a worker process its task-sent event joins the consumer's batch of task events."""
        job_id = job_of_message(name, kwargs, options.get("task_id"))
        if job_id is not None:
            options["headers"] = {**(options.get("headers") or {}), names.JOB_HEADER: job_id}
        sent = self.sent_events
        if sent is not None and "event_dispatcher" not in options and sent.ready():
            options["event_dispatcher"] = sent
        return super().send_task(name, args, kwargs, **options)

    def _get_backend(self) -> Any:
        backend = with_blocking_pool(without_property_locks(super()._get_backend()))
        if callable(getattr(backend, "add_pending_result", None)):
            backend.add_pending_result = no_subtask_barriers(backend.add_pending_result)
        return backend

    @cached_property
    def shared_redis(self) -> redis.Redis:
        """One pool for the process's store, events and limiter."""
        return redis_client(self.settings)

    @cached_property
    def job_store(self) -> JobStore:
        settings = self.settings
        return JobStore(
            self.shared_redis, ttl_s=settings.job_ttl_s, delta_linger_s=settings.delta_linger_s
        )

    @cached_property
    def job_events(self) -> JobEvents:
        return JobEvents(self.shared_redis, ttl_s=self.settings.job_ttl_s)

    @cached_property
    def batch_collector(self) -> BatchCollector:
        settings = self.settings
        return BatchCollector(
            self.shared_redis,
            # Kept while a request may still be waited for, and an hour after.
            ttl_s=settings.batch_max_wait_s + 3600,
            max_requests=settings.batch_max_requests,
            window_s=settings.batch_window_s,
        )

    @cached_property
    def deps(self) -> TaskDeps:
        """What task logic runs against in this process; built on first use, because the
        model client imports the anthropic SDK, which only task processes need."""
        from chorus.llm.client import ModelClient
        from chorus.runtime.batches import CeleryBatches
        from chorus.runtime.profiles import load_profiles

        settings = self.settings
        limiter = RateLimiter(
            self.shared_redis, settings.rate_limits, window_s=settings.rate_limit_window_s
        )
        return TaskDeps(
            settings=settings,
            store=self.job_store,
            events=self.job_events,
            model=ModelClient(settings),
            limiter=limiter,
            profiles=load_profiles(settings),
            batches=CeleryBatches(self.batch_collector, self, settings),
        )


def no_subtask_barriers(add_pending_result: Callable[..., Any]) -> Callable[..., Any]:
    """The result backend's `add_pending_result`, skipping the group barrier on chord subtasks.

    Sending a group, Celery's canvas asks the backend to watch every member's result for the
    group's barrier (`res.then(barrier, weak=True)`): with Redis, a SUBSCRIBE and later an
    UNSUBSCRIBE per subtask in the sender. A chord subtask stores no result
    (`runtime.signatures`, which names its id so), so that subscription could never fire: it is
    not made. Every other wait (a caller's `.get()`, any other group) is watched as before."""

    def add(result: Any, weak: bool = False, start_drainer: bool = True) -> Any:
        if weak and str(result.id).endswith(names.CHORD_SUBTASK_ID_SUFFIX):
            return result
        return add_pending_result(result, weak=weak, start_drainer=start_drainer)

    return add


def job_of_message(name: str, kwargs: Any, task_id: str | None) -> str | None:
    """The job a task message works for: its `job_id` argument, else (a submit without one)
    the task id, which doubles as the job id."""
    job_id = kwargs.get("job_id") if isinstance(kwargs, dict) else None
    if isinstance(job_id, str) and job_id:
        return job_id
    return task_id if name == names.RUN_JOB_TASK else None


def celery_config(settings: Settings) -> dict[str, Any]:
    url = settings.redis_url.get_secret_value()
    # A sentinel:// URL: kombu's transport and Celery's backend ask the sentinels for the
    # master on every reconnect, so both follow a failover.
    failover = sentinel.transport_options(settings) if sentinel.is_sentinel_url(url) else {}
    if failover:
        url = sentinel.full_url(url)
    transport_options = {
        # Must outlast the slowest subtask: until then a dead worker's message waits (the
        # delivery ledger in chorus.runtime.redelivery hands it back far sooner).
        "visibility_timeout": settings.visibility_timeout_s,
        "socket_timeout": limits.REDIS_SOCKET_TIMEOUT_S,
        "socket_connect_timeout": limits.REDIS_CONNECT_TIMEOUT_S,
        "health_check_interval": limits.REDIS_HEALTH_CHECK_S,
        "retry_on_timeout": True,
        # A channel's Redis pool stops at 10 connections and then raises (kombu's default):
        # the consumer's channel acknowledges for every pool thread.
        "max_connections": pool_size(settings),
        **failover,
    }
    tls = tls_options(settings)
    return {
        # Kombu and the Redis result backend skip the certificate check for rediss:// unless
        # given options: always give them.
        **({"broker_use_ssl": tls, "redis_backend_use_ssl": tls} if tls else {}),
        "broker_url": url,
        "result_backend": url,
        # JSON only: a pickled message is refused, never executed.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_routes": {
            "orchestrator.*": {"queue": names.ORCHESTRATOR_QUEUE},
            "worker.*": {"queue": names.SUBTASKS_QUEUE},
        },
        "task_default_queue": names.ORCHESTRATOR_QUEUE,
        # Flower sees tasks from the moment they are sent. They cost about a tenth of the
        # throughput at 0 ms per call (README "Performance"); CHORUS_TASK_EVENTS=false saves
        # that where nobody watches (Flower can still switch worker events on at runtime).
        "worker_send_task_events": settings.task_events,
        "task_send_sent_event": settings.task_events,
        # Celery's consumer, sending task events in batches (chorus.runtime.consumer).
        "worker_consumer": "chorus.runtime.consumer:ChorusConsumer",
        # A task is acknowledged after it finishes: a worker that dies mid-call hands it back.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # One message reserved per free slot keeps work spread fairly over worker processes.
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": transport_options,
        "result_backend_transport_options": transport_options,
        # Redis restarts: keep reconnecting (never give up and exit), and let in-flight model
        # calls run on through a broker blip; their late-ack messages stay in Redis, their
        # results are saved once Redis is back, and a redelivered duplicate finds the stored
        # result (subtasks are idempotent). Cancelling them would only repeat paid calls.
        "broker_connection_retry_on_startup": True,
        "broker_connection_retry": True,
        "broker_connection_max_retries": None,
        # Redis refusing a write (out of memory) reaches the consumer as a channel error;
        # unretried, Celery calls it unrecoverable and the worker process exits.
        "broker_channel_error_retry": True,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        # One result backend, and one Redis pool, for all of a process's threads. Celery's
        # default builds one per thread (1,000 in a worker), each with its own connections,
        # and building one reads installed packages' metadata from disk (redis-py's driver
        # info): a fresh worker's first burst of results queued behind that.
        "result_backend_thread_safe": True,
        # ... so that pool needs a connection for every thread (redis-py's default stops at
        # 100 and then raises: a chord part lost that way never calls back), and a thread
        # finding it empty waits (`backend_compat.with_blocking_pool`).
        "redis_max_connections": pool_size(settings),
        "result_backend_always_retry": True,
        "result_backend_max_retries": 30,
        "redis_socket_timeout": limits.REDIS_SOCKET_TIMEOUT_S,
        "redis_socket_connect_timeout": limits.REDIS_CONNECT_TIMEOUT_S,
        "redis_retry_on_timeout": True,
        "redis_backend_health_check_interval": limits.REDIS_HEALTH_CHECK_S,
        # Celery's own results (short receipts) and chord counters: a day outlives any job by
        # far, which a chord counter must; the records themselves live job_ttl_s.
        "result_expires": limits.CELERY_RESULT_TTL_S,
        "enable_utc": True,
    }


def create_celery_app(settings: Settings | None = None, *, fail_fast: bool = False) -> ChorusCelery:
    """The app, from `settings` or the environment (ConfigError naming a bad variable).

    `fail_fast` is for a sender someone waits on (a CLI command): publishing to a Redis that
    is away fails within seconds instead of retrying for about twenty."""
    settings = settings or load_settings()
    celery_app = ChorusCelery(settings)
    config = celery_config(settings)
    if fail_fast:
        config.update(_fail_fast_config(config))
    celery_app.conf.update(config)
    return celery_app


def _fail_fast_config(config: dict[str, Any]) -> dict[str, Any]:
    wait = limits.FAIL_FAST_REDIS_S / 2
    sockets = {"socket_timeout": wait, "socket_connect_timeout": wait}
    # One retry, at once: the broker's publish and the result backend's subscription to the
    # task's result, which Celery retries on its own otherwise.
    policy = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
    return {
        "task_publish_retry_policy": policy,
        "broker_connection_timeout": wait,
        "broker_transport_options": {**config["broker_transport_options"], **sockets},
        "result_backend_transport_options": {
            **config["result_backend_transport_options"],
            **sockets,
            "retry_policy": policy,
        },
        "redis_socket_timeout": wait,
        "redis_socket_connect_timeout": wait,
        "result_backend_max_retries": 1,
    }
