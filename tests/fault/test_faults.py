"""Crashes and restarts with real processes: nothing lost, nothing recorded twice.

Each test runs on a private stack (own redis-server and simulator), so killing things never
disturbs the rest of the run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chorus.contract.events import EventKind
from chorus.contract.models import JobRecord, JobStatus, SubtaskStatus
from chorus.devstack.stack import LocalStack, start_redis
from tests.support.runner import runner_for
from tests.support.simulator_control import SimulatorControl
from tests.support.waiting import wait_until

pytestmark = pytest.mark.fault

StackFactory = Callable[..., LocalStack]
# Heartbeats every second, dead after 4: the test waits seconds, not the default 15.
FAST_HEARTBEAT = {"CHORUS_HEARTBEAT_INTERVAL_S": "1", "CHORUS_HEARTBEAT_TTL_S": "4"}


def _in_flight(sim: SimulatorControl, count: int) -> Callable[[], bool]:
    return lambda: int(sim.stats().get("in_flight", 0)) >= count


def test_sigkill_the_only_worker_mid_call_then_start_another(stack_factory: StackFactory) -> None:
    stack = stack_factory(
        workers=1, worker_concurrency=8, simulator_latency_ms=3000, simulator_plan_size=4
    )
    runner = runner_for(stack)
    job_id = runner.submit("Survive a crash", options={"max_subtasks": 4})
    runner.wait_started(job_id, 4)
    stack.process("worker1").kill()  # SIGKILL: no shutdown code runs at all
    killed_at = time.monotonic()
    stack.add_worker("worker2")

    record = runner.wait(job_id, timeout_s=60)
    recovered_s = time.monotonic() - killed_at
    assert record.status is JobStatus.SUCCEEDED
    assert all(r.status is SubtaskStatus.SUCCEEDED for r in record.results)
    assert {str(r.worker).split("@")[0] for r in record.results} == {"worker2"}
    assert len(runner.events(job_id, EventKind.SUBTASK_FINISHED)) == 4  # each output once
    # Handed back by heartbeat (default: dead after 15 s), not the one-hour visibility timeout.
    assert recovered_s < 35, f"took {recovered_s:.0f}s"


def test_sigkill_the_orchestrator_mid_plan_then_restart_it(stack_factory: StackFactory) -> None:
    stack = stack_factory(
        workers=1, simulator_latency_ms=2500, simulator_plan_size=2, extra_env=FAST_HEARTBEAT
    )
    runner = runner_for(stack)
    sim = SimulatorControl(str(stack.simulator_url))
    job_id = runner.submit("Plan through a crash", options={"max_subtasks": 2})
    wait_until(_in_flight(sim, 1), timeout_s=30, what="the planning call in flight")
    assert runner.store.get(job_id).status is JobStatus.PLANNING
    stack.process("orchestrator").kill()
    stack.add_orchestrator("orchestrator2")

    record = runner.wait(job_id, timeout_s=60)
    assert record.status is JobStatus.SUCCEEDED and len(record.results) == 2
    assert len(runner.events(job_id, EventKind.PLANNED)) == 1  # planned once on record


# The Redis client's own retry (CHORUS_REDIS_RETRY_S, 60 s by default) rides out a short
# outage inside one command; at 2 s the outage below outlasts it, so what carries each paid
# reply across is the worker's save loop (`chorus.core.persisting.keep_trying`).
SHORT_CLIENT_RETRY = {"CHORUS_REDIS_RETRY_S": "2"}


def test_redis_down_while_model_calls_end_their_results_are_saved_once_it_is_back(
    stack_factory: StackFactory, workdir: Path
) -> None:
    redis_proc, url = start_redis(workdir / "aof-redis", appendonly=True)
    stack: LocalStack | None = None
    try:
        stack = stack_factory(
            redis_url=url,
            workers=1,
            simulator_latency_ms=3000,
            simulator_plan_size=3,
            extra_env=SHORT_CLIENT_RETRY,
        )
        runner = runner_for(stack)
        sim = SimulatorControl(str(stack.simulator_url))
        worker = stack.process("worker1")
        job_id = runner.submit("Outlive a Redis restart", options={"max_subtasks": 3})
        # The plan and all three worker calls have reached the model: only then does Redis go.
        wait_until(
            lambda: _calls(sim) == (4, 3), timeout_s=30, what="the three worker calls in flight"
        )
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        redis_proc.stop()  # SIGTERM: Redis flushes its append-only file and exits
        wait_until(lambda: _calls(sim) == (4, 0), timeout_s=15, what="the three replies")
        # Each reply has met the dead store at least once: the save loop holds all three.
        wait_until(
            lambda: len(_failed_saves(worker.log_text())) == 3,
            timeout_s=30,
            what="a failed save of each subtask's result in the worker's log",
        )
        answered_by = datetime.now(UTC)
        redis_proc, _ = start_redis(workdir / "aof-redis", port=port, appendonly=True)
        # The simulator's own clock agrees: every worker call ended before Redis was back.
        ends = [r["finished_at"] for r in sim.requests() if "<subtask>" in r["text"]]
        assert len(ends) == 3 and max(ends) < answered_by.timestamp(), ends

        record = runner.wait(job_id, timeout_s=90)
        assert record.status is JobStatus.SUCCEEDED, record.error
        # The replies stored are the ones answered during the outage (none asked for again)...
        assert [r.attempts for r in record.results] == [1, 1, 1]
        assert all(r.finished_at < answered_by for r in record.results), answered_by
        assert _calls(sim) == (4, 0), "a model call was made again"
        # ... and the saves that failed are the ones that landed, each exactly once.
        assert _failed_saves(worker.log_text()) == {r.index for r in record.results}
        assert len(runner.events(job_id, EventKind.SUBTASK_FINISHED)) == 3
        # Workers and the orchestrator are consuming again: a new job runs through.
        again = runner.run("After the restart", options={"max_subtasks": 2}, timeout_s=60)
        assert again.status is JobStatus.SUCCEEDED
        assert all(p.alive() for p in stack.processes if "@" in p.name)
    finally:
        if stack is not None:
            stack.stop()  # before their Redis goes away
        redis_proc.stop()


def _calls(sim: SimulatorControl) -> tuple[int, int]:
    """(model calls received, still unanswered), from one reading."""
    stats = sim.stats()
    return int(stats["requests_total"]), int(stats["in_flight"])


def _failed_saves(worker_log: str) -> set[int]:
    """The subtasks whose result the worker logged as not stored yet (keep_trying's line)."""
    found = re.findall(r"subtask (\d+)'s result: storing it failed", worker_log)
    return {int(index) for index in found}


SUBMITTER = """
import json, sys
from chorus.runtime.app import create_celery_app
from chorus.store.jobs import JobStore
from chorus.settings import Settings
from chorus.core.submission import build_request
from chorus.runtime.enqueue import record_and_enqueue
settings = Settings()
app, store = create_celery_app(settings), JobStore.from_settings(settings)
ids = [
    record_and_enqueue(app, store, settings, build_request({"task": f"load {sys.argv[1]}-{n}",
        "options": {"max_subtasks": 3}})).job_id
    for n in range(int(sys.argv[2]))
]
print(json.dumps(ids))
"""


def test_300_jobs_from_three_processes_all_finish_once(stack_factory: StackFactory) -> None:
    stack = stack_factory(workers=1, simulator_latency_ms=0, simulator_plan_size=3)
    runner = runner_for(stack)
    submitters = [
        subprocess.Popen(
            [sys.executable, "-c", SUBMITTER, str(n), "100"],
            env=stack.env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    job_ids: list[str] = []
    for proc in submitters:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        job_ids += json.loads(out)
    assert len(job_ids) == len(set(job_ids)) == 300

    records: dict[str, JobRecord] = {}

    def all_final() -> bool:
        for job_id in job_ids:
            if job_id not in records and (record := runner.store.get(job_id)).status.is_final:
                records[job_id] = record
        return len(records) == 300

    # Every half second: each poll reads every job not yet final.
    wait_until(
        all_final, timeout_s=240, every_s=0.5, what=lambda: f"{300 - len(records)} jobs to end"
    )
    assert all(r.status is JobStatus.SUCCEEDED for r in records.values())
    assert len(runner.store.recent_jobs(1000)) == 300  # none duplicated in the index
    # Each model call counted once per attempt: the simulator saw exactly what the records say,
    # but for attempts that never reached it (a connection the simulator dropped under this
    # load: the worker logs them and retries, and the record counts them as attempts).
    attempts = sum(1 + sum(s.attempts for s in r.results) for r in records.values())
    worker_log = stack.process("worker1").log_text().splitlines()
    unreached = sum(
        "chorus.worker_service.execution" in line and "could not connect to the model" in line
        for line in worker_log
    )
    served = SimulatorControl(str(stack.simulator_url)).stats()["requests_total"]
    assert served == attempts - unreached, (served, attempts, unreached)
