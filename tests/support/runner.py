"""Submit jobs the way a client on the broker does, and wait for them with a deadline."""

from __future__ import annotations

from typing import Any

from celery.result import AsyncResult

from chorus.contract.events import EventKind, JobEvent
from chorus.contract.models import JobRecord
from chorus.core.submission import build_request
from chorus.devstack.stack import LocalStack, wait_until
from chorus.runtime.app import ChorusCelery, create_celery_app
from chorus.runtime.enqueue import record_and_enqueue
from chorus.runtime.profiles import load_profiles
from chorus.settings import Settings
from chorus.store.jobs import JobStore, wait_for_job


class JobRunner:
    def __init__(self, app: ChorusCelery, store: JobStore, settings: Settings) -> None:
        self.app = app
        self.store = store
        self.settings = settings
        self.profiles = load_profiles(settings)

    def submit(self, task: str, **fields: Any) -> str:
        request = self.profiles.resolve(build_request({"task": task, **fields}))
        return record_and_enqueue(self.app, self.store, self.settings, request).job_id

    def cancel(self, job_id: str) -> JobRecord:
        return self.store.cancel(job_id)[0]

    def events(self, job_id: str, kind: EventKind) -> list[JobEvent]:
        return [e for e in self.app.job_events.read(job_id, "0", block_ms=100) if e.kind is kind]

    def wait_started(self, job_id: str, count: int, *, timeout_s: float = 30) -> None:
        """Until `count` subtasks have a model call in flight."""
        wait_until(
            lambda: len(self.events(job_id, EventKind.SUBTASK_STARTED)) >= count,
            timeout_s=timeout_s,
            what=f"{count} subtask calls in flight",
        )

    def wait(self, job_id: str, *, timeout_s: float = 60) -> JobRecord:
        return wait_for_job(self.store, job_id, timeout_s=timeout_s)

    def run(self, task: str, *, timeout_s: float = 60, **fields: Any) -> JobRecord:
        return self.wait(self.submit(task, **fields), timeout_s=timeout_s)


def runner_for(stack: LocalStack) -> JobRunner:
    assert stack.simulator_url is not None
    settings = Settings(redis_url=stack.redis_url, simulator_url=stack.simulator_url)
    return JobRunner(create_celery_app(settings), JobStore.from_settings(settings), settings)


def release(*results: AsyncResult) -> None:
    """Stop the result backend waiting on these results now, while the test's Redis is up.
    Left to the garbage collector, each one's unsubscribe runs after Redis has gone and
    retries in the background until the process exits."""
    for result in results:
        if result.backend is not None:
            result.backend.remove_pending_result(result)
            result.backend = None
