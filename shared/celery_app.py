"""The one Celery app of Chorus, shared by the orchestrator and worker processes.

`celery -A shared.celery_app worker -Q orchestrator` (or `-Q subtasks`) starts a service;
`create_celery_app(settings)` builds a client app for anything that only enqueues.
"""

from __future__ import annotations

import logging
import ssl
from functools import cached_property
from typing import Any

from celery import Celery

from shared import constants
from shared.job_events import JobEvents
from shared.job_store import JobStore, redis_client
from shared.model_client import ModelClient
from shared.rate_limiter import RateLimiter
from shared.settings import Settings

log = logging.getLogger(__name__)

TASK_MODULES = ["orchestrator_service.tasks", "worker_service.tasks"]


class ChorusCelery(Celery):  # type: ignore[misc]
    """A Celery app that carries the process's Settings and lazily built I/O clients."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__("chorus", **kwargs)
        self.settings = settings

    @cached_property
    def job_store(self) -> JobStore:
        return JobStore.from_settings(self.settings)

    @cached_property
    def job_events(self) -> JobEvents:
        return JobEvents(redis_client(self.settings), ttl_s=self.settings.job_ttl_s)

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        return RateLimiter(
            redis_client(self.settings),
            self.settings.rate_limits,
            window_s=self.settings.rate_limit_window_s,
        )

    @cached_property
    def model_client(self) -> ModelClient:
        return ModelClient(self.settings)


def celery_config(settings: Settings) -> dict[str, Any]:
    url = settings.redis_url.get_secret_value()
    transport_options = {
        # Must outlast the slowest subtask: until then a dead worker's message waits (the
        # delivery ledger in shared.redelivery hands it back far sooner).
        "visibility_timeout": settings.visibility_timeout_s,
        "socket_timeout": constants.REDIS_SOCKET_TIMEOUT_S,
        "socket_connect_timeout": constants.REDIS_CONNECT_TIMEOUT_S,
        "health_check_interval": constants.REDIS_HEALTH_CHECK_S,
        "retry_on_timeout": True,
    }
    tls = _celery_tls(settings)
    return {
        **tls,
        "broker_url": url,
        "result_backend": url,
        # JSON only: a pickled message is refused, never executed.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_routes": {
            "orchestrator.*": {"queue": constants.ORCHESTRATOR_QUEUE},
            "worker.*": {"queue": constants.SUBTASKS_QUEUE},
        },
        "task_default_queue": constants.ORCHESTRATOR_QUEUE,
        # Flower sees tasks from the moment they are sent. They cost about a tenth of the
        # throughput at 0 ms per call (README "Performance"); CHORUS_TASK_EVENTS=false saves
        # that where nobody watches (Flower can still switch worker events on at runtime).
        "worker_send_task_events": settings.task_events,
        "task_send_sent_event": settings.task_events,
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
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "result_backend_always_retry": True,
        "result_backend_max_retries": 30,
        "redis_socket_timeout": constants.REDIS_SOCKET_TIMEOUT_S,
        "redis_socket_connect_timeout": constants.REDIS_CONNECT_TIMEOUT_S,
        "redis_retry_on_timeout": True,
        "redis_backend_health_check_interval": constants.REDIS_HEALTH_CHECK_S,
        # Celery's own results (short receipts) and chord counters: a day outlives any job by
        # far, which a chord counter must; the records themselves live job_ttl_s.
        "result_expires": constants.CELERY_RESULT_TTL_S,
        "enable_utc": True,
    }


def _celery_tls(settings: Settings) -> dict[str, Any]:
    # Kombu and the Redis result backend fall back to *no* certificate check for rediss://
    # when no SSL options are given; always give them.
    if not settings.redis_url.get_secret_value().startswith("rediss://"):
        return {}
    options: dict[str, Any] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    if settings.redis_tls_ca_file:
        options["ssl_ca_certs"] = settings.redis_tls_ca_file
    return {"broker_use_ssl": options, "redis_backend_use_ssl": options}


def create_celery_app(settings: Settings | None = None) -> ChorusCelery:
    settings = settings or Settings()
    celery_app = ChorusCelery(settings)
    celery_app.conf.update(celery_config(settings))
    return celery_app


def create_worker_app() -> ChorusCelery:
    celery_app = create_celery_app()
    celery_app.conf.include = TASK_MODULES
    return celery_app


app = create_worker_app()

# Start-up, per-task and shutdown hooks of every Chorus Celery process (connects signals).
from shared import worker_lifecycle  # noqa: E402, F401
