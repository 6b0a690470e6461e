"""Session-wide real services: one redis-server and one simulator per test run, each on a free
port, plus factories that start Celery worker processes and stop them again."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.local_stack import LocalStack, start_redis, start_simulator
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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    """Settings every Celery process of the test run gets: quick retries keep tests fast."""
    return {"CHORUS_RETRY_BASE_S": "0.2", "CHORUS_RETRY_MAX_S": "1"}


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
