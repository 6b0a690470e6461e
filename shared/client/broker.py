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
    from chorus.store.events import JobEvents
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
    def _events(self) -> JobEvents:
        from chorus.store.connection import redis_client
        from chorus.store.events import JobEvents

        return JobEvents(redis_client(self.settings), ttl_s=self.settings.job_ttl_s)

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

    def wait(self, job_id: str, *, timeout_s: float) -> JobRecord:
        """Follow the job's events to its end, then read its record (JobTimeout past the
        deadline)."""
        import time

        from chorus.errors import JobTimeout

        events = self._events
        deadline, after = time.monotonic() + timeout_s, "0"
        while True:
            record = self.store.find(job_id)
            if record is not None and record.status.is_final:
                return record
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                status = record.status.value if record else "not yet recorded"
                raise JobTimeout(f"job {job_id} still {status} after {timeout_s:.0f}s")
            for event in events.read(job_id, after, block_ms=min(left_ms, 1000)):
                after = event.id


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
