"""Submitting from a service on the same Redis as the fleet, without the HTTP API.

Celery and Redis are imported when the first job is submitted, not when `chorus` is imported.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

from chorus.contract.models import JobRecord, JobRequest

if TYPE_CHECKING:
    from chorus.core.profiles import Profiles
    from chorus.runtime.app import ChorusCelery
    from chorus.settings import Settings
    from chorus.store.jobs import JobStore


class BrokerSubmitter:
    """Validates, records and enqueues jobs on one broker; holds its connections."""

    def __init__(self, settings: Settings | None = None) -> None:
        from chorus.settings import load_settings

        self.settings = settings or load_settings()

    @cached_property
    def _app(self) -> ChorusCelery:
        from chorus.runtime.app import create_celery_app

        return create_celery_app(self.settings)

    @cached_property
    def store(self) -> JobStore:
        from chorus.store.jobs import JobStore

        return JobStore.from_settings(self.settings)

    @cached_property
    def profiles(self) -> Profiles:
        from chorus.runtime.profiles import load_profiles

        return load_profiles(self.settings)

    def submit(self, request: JobRequest | dict[str, Any]) -> JobRecord:
        """Record the job (`planning`) and enqueue it, its profile's fields as defaults.
        Raises InvalidRequest naming each field at fault; nothing is enqueued then."""
        from chorus.core.submission import build_request
        from chorus.runtime.enqueue import record_and_enqueue

        given = (
            request.model_dump(exclude_unset=True) if isinstance(request, JobRequest) else request
        )
        valid = self.profiles.resolve(build_request(given))
        return record_and_enqueue(self._app, self.store, self.settings, valid)


_default: BrokerSubmitter | None = None
_default_lock = threading.Lock()


def submit_job(
    task: str,
    *,
    context: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    job_id: str | None = None,
    settings: Settings | None = None,
) -> str:
    """Submit a job straight to the broker (`REDIS_URL`, or `settings`); returns its id.

    The record is written before the message is sent, so the job can be read at once
    (`chorus.Client.get` through the API, or `BrokerSubmitter.store.get`)."""
    global _default
    payload: dict[str, Any] = {"task": task, "context": context or {}, "options": options or {}}
    if job_id is not None:
        payload["job_id"] = job_id
    if settings is not None:
        return BrokerSubmitter(settings).submit(payload).job_id
    with _default_lock:
        if _default is None:
            _default = BrokerSubmitter()
        submitter = _default
    return submitter.submit(payload).job_id
