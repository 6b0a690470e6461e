"""Session-wide real services, as pytest fixtures: one redis-server and one simulator per test
run, each on a free port, plus factories that start Celery worker processes and stop them
again. Registered for every test by `tests/conftest.py`."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from chorus.contract import names
from chorus.devstack.stack import LocalStack, start_redis, start_simulator, wait_until
from chorus.runtime.app import ChorusCelery, create_celery_app
from chorus.settings import Settings
from chorus.store.jobs import JobStore
from tests.support.runner import JobRunner
from tests.support.simulator_control import SimulatorControl

SIMULATOR_LATENCY_MS = 200


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="chorus-tests-") as path:
        yield Path(path)


@pytest.fixture(scope="session")
def redis_url(workdir: Path) -> Iterator[str]:
    """A private redis-server for this test run: never the machine's shared one on 6379."""
    proc, url = start_redis(workdir)
    yield url
    proc.stop()


@pytest.fixture(scope="session")
def simulator(workdir: Path) -> Iterator[SimulatorControl]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    proc, url = start_simulator(workdir, env, latency_ms=SIMULATOR_LATENCY_MS)
    yield SimulatorControl(url)
    proc.stop()


@pytest.fixture
def sim(simulator: SimulatorControl) -> SimulatorControl:
    """The session simulator with counters and fault rules cleared for this test."""
    simulator.reset()
    return simulator


@pytest.fixture(autouse=True)
def _fresh_session_simulator(request: pytest.FixtureRequest) -> None:
    """Every test on the session's simulator (directly or through the shared stack) starts
    with no fault rules or rate limits, and with the shared stack quiet: in a shuffled order,
    a test must not inherit the faults the one before it set, nor count the late calls of a
    job it left behind (a job cancelled mid-planning still finishes, and bills, its call)."""
    if "simulator" not in request.fixturenames:
        return
    simulator: SimulatorControl = request.getfixturevalue("simulator")
    if "chorus_stack" in request.fixturenames:
        stack: LocalStack = request.getfixturevalue("chorus_stack")
        wait_quiet(stack, simulator)
    simulator.reset()


def wait_quiet(stack: LocalStack, simulator: SimulatorControl, timeout_s: float = 60) -> None:
    """Until no message is queued or held and no model call is in flight, twice in a row."""
    client = redis.Redis.from_url(str(stack.redis_url))
    quiet_checks = 0

    def quiet() -> bool:
        nonlocal quiet_checks
        with client.pipeline(transaction=False) as pipe:
            pipe.llen(names.ORCHESTRATOR_QUEUE)
            pipe.llen(names.SUBTASKS_QUEUE)
            pipe.hlen("unacked")  # kombu's delivered, not yet acknowledged
            busy = sum(int(n) for n in pipe.execute())
        busy += int(simulator.stats()["in_flight"])
        quiet_checks = quiet_checks + 1 if busy == 0 else 0
        return quiet_checks >= 2

    try:
        wait_until(quiet, timeout_s=timeout_s, what="the shared stack to go quiet")
    finally:
        client.close()


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    """Settings every Celery process of the test run gets: quick retries keep tests fast."""
    return {
        "CHORUS_RETRY_BASE_S": "0.2",
        "CHORUS_RETRY_MAX_S": "1",
        # Webhooks sign with this and retry 0.5 s, 1.5 s, 3 s, … apart (tests.support.webhooks).
        "CHORUS_WEBHOOK_SECRETS": '{"default": "whsec_test_secret"}',
        "CHORUS_WEBHOOK_RETRY_BASE_S": "0.5",
    }


@pytest.fixture(scope="session")
def chorus_stack(
    workdir: Path, redis_url: str, simulator: SimulatorControl, stack_env: dict[str, str]
) -> Iterator[LocalStack]:
    """One orchestrator and one worker process shared by the integration tests."""
    stack = LocalStack(
        redis_url=redis_url,
        simulator_url=simulator.url,
        workers=1,
        worker_concurrency=32,
        extra_env=stack_env,
        workdir=workdir / "stack",
    )
    (workdir / "stack").mkdir()
    stack.start()
    yield stack
    stack.stop()


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
