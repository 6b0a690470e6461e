from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.celery_app import ChorusCelery, create_celery_app
from shared.job_events import EventKind, JobEvent
from shared.job_store import JobStore
from shared.local_stack import LocalStack, wait_until
from shared.models import JobRecord
from shared.settings import Settings
from shared.submission import build_request, cancel_job, submit_job, wait_for_job
from tests.support.simulator_control import SimulatorControl


class JobRunner:
    """Submit jobs the way a client does and wait for them with a deadline."""

    def __init__(self, app: ChorusCelery, store: JobStore, settings: Settings) -> None:
        self.app = app
        self.store = store
        self.settings = settings

    def submit(self, task: str, **fields: Any) -> str:
        request = build_request({"task": task, **fields})
        return submit_job(self.app, self.store, self.settings, request).job_id

    def cancel(self, job_id: str) -> JobRecord:
        return cancel_job(self.store, job_id)

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


@pytest.fixture(scope="session")
def settings(redis_url: str, simulator: SimulatorControl) -> Settings:
    return Settings(redis_url=redis_url, simulator_url=simulator.url)


@pytest.fixture(scope="session")
def client_app(settings: Settings) -> ChorusCelery:
    return create_celery_app(settings)


@pytest.fixture(scope="session")
def store(settings: Settings) -> Iterator[JobStore]:
    job_store = JobStore.from_settings(settings)
    yield job_store
    job_store.close()


@pytest.fixture
def jobs(
    chorus_stack: LocalStack,
    client_app: ChorusCelery,
    store: JobStore,
    settings: Settings,
    sim: SimulatorControl,
) -> JobRunner:
    """A runner against the session's orchestrator and worker, with a clean simulator."""
    return JobRunner(client_app, store, settings)


@pytest.fixture
def stack_factory(workdir: Path, stack_env: dict[str, str]) -> Iterator[Callable[..., LocalStack]]:
    """Private stacks (own redis-server, own simulator) for tests that kill, stop or add
    processes, so the session's shared stack never sees it. All are stopped at teardown."""
    stacks: list[LocalStack] = []

    def start(**kwargs: Any) -> LocalStack:
        path = Path(tempfile.mkdtemp(prefix="stack-", dir=workdir))
        env = {**stack_env, **kwargs.pop("extra_env", {})}
        stack = LocalStack(workdir=path, extra_env=env, **kwargs)
        stacks.append(stack)
        return stack.start()

    yield start
    for stack in stacks:
        stack.stop()


def runner_for(stack: LocalStack) -> JobRunner:
    assert stack.simulator_url is not None
    settings = Settings(redis_url=stack.redis_url, simulator_url=stack.simulator_url)
    return JobRunner(create_celery_app(settings), JobStore.from_settings(settings), settings)
