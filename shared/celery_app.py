"""The one Celery app of Chorus, shared by the orchestrator and worker processes.

`celery -A shared.celery_app worker -Q orchestrator` (or `-Q subtasks`) starts a service;
`create_celery_app(settings)` builds a client app for anything that only enqueues.
"""

from __future__ import annotations

import logging
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
    return {
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
        # Flower sees tasks from the moment they are sent.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        # A task is acknowledged after it finishes: a worker that dies mid-call hands it back.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # One message reserved per free slot keeps work spread fairly over worker processes.
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": {"visibility_timeout": settings.visibility_timeout_s},
        "result_backend_transport_options": {"visibility_timeout": settings.visibility_timeout_s},
        "broker_connection_retry_on_startup": True,
        "result_expires": settings.job_ttl_s,
        "enable_utc": True,
    }


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
