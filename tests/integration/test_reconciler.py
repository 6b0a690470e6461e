"""The reconciler with real processes: jobs left with nothing in flight (a chord lost, an
enqueue that never happened, a deadline passed) are driven on to a final state from their
records, and only the missing work is paid for again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chorus.contract import names
from chorus.contract.models import (
    JobRecord,
    JobStatus,
    Plan,
    Subtask,
    SubtaskResult,
    SubtaskStatus,
    Usage,
)
from chorus.core import records
from chorus.core.submission import build_request, initial_record
from chorus.devstack.stack import LocalStack, wait_until
from chorus.runtime.app import create_celery_app
from chorus.runtime.ownership import MessageScanner
from chorus.runtime.signatures import subtask_signature
from chorus.settings import Settings
from chorus.store.connection import redis_client
from chorus.store.jobs import JobStore
from tests.support.runner import runner_for
from tests.support.simulator_control import SimulatorControl

pytestmark = pytest.mark.integration

QUICK = {"CHORUS_RECONCILE_GRACE_S": "1", "CHORUS_RECONCILE_INTERVAL_S": "0.5"}


def _stranded(store: JobStore, settings: Settings, task: str, **options: Any) -> JobRecord:
    """A job as a lost message leaves it: on record, with nothing in flight."""
    request = build_request({"task": task, "options": options})
    return store.create(initial_record(request, settings))


def _planned(store: JobStore, record: JobRecord, n: int) -> JobRecord:
    plan = Plan(
        analysis="planned before the chord was lost",
        subtasks=[
            Subtask(index=i, type=f"part{i}", description=f"Write part {i}.") for i in range(n)
        ],
    )
    now = records.utc_now()
    return store.update(record.job_id, lambda r: records.with_plan(r, plan, Usage(), now))[0]


def _result(i: int) -> SubtaskResult:
    return SubtaskResult(
        index=i, type=f"part{i}", description=f"Write part {i}.", status=SubtaskStatus.SUCCEEDED,
        output=f"kept output {i}", attempts=1, usage=Usage(input_tokens=3, output_tokens=4),
        finished_at=records.utc_now(),
    )  # fmt: skip


def _worker_calls(sim: SimulatorControl, settings: Settings, marker: str) -> int:
    return sum(
        1
        for r in sim.requests()
        if r.get("model") == settings.worker_model and marker in str(r.get("text", ""))
    )


def test_stranded_jobs_are_driven_to_a_final_state(
    stack_factory: Callable[..., LocalStack],
) -> None:
    stack = stack_factory(workers=1, extra_env=QUICK)
    runner = runner_for(stack)
    store, settings = runner.store, runner.settings
    sim = SimulatorControl(str(stack.simulator_url))

    # A chord lost after one of three results was stored: two subtasks run again, once each.
    lost = _planned(store, _stranded(store, settings, "lost chord job"), 3)
    store.save_result(lost.job_id, _result(0))
    # Every result stored, the gather never sent: only the gather runs.
    gathered = _planned(store, _stranded(store, settings, "lost gather job"), 2)
    for i in range(2):
        store.save_result(gathered.job_id, _result(i))
    # The record was written, the enqueue never happened: it is planned and run.
    unsent = _stranded(store, settings, "lost enqueue job", max_subtasks=2)
    # Past its deadline with a result missing: finished with the reason, nothing re-run.
    late = _stranded(store, settings, "late job", deadline_s=1)
    late = _planned(store, late, 2)
    store.save_result(late.job_id, _result(0))

    finals = {
        job.job_id: runner.wait(job.job_id, timeout_s=45) for job in (lost, gathered, unsent, late)
    }

    record = finals[lost.job_id]
    assert record.status is JobStatus.SUCCEEDED
    assert record.results[0].output == "kept output 0"  # paid for once, kept
    assert _worker_calls(sim, settings, "lost chord job") == 2
    assert finals[gathered.job_id].status is JobStatus.SUCCEEDED
    assert _worker_calls(sim, settings, "lost gather job") == 0
    assert finals[unsent.job_id].status is JobStatus.SUCCEEDED
    record = finals[late.job_id]
    assert record.status is JobStatus.PARTIAL
    assert record.results[1].error is not None and record.results[1].error.startswith("deadline")
    assert _worker_calls(sim, settings, "late job") == 0
    # Final jobs leave the reconciler's watch list.
    assert not redis_client(settings).zrange(names.ACTIVE_JOBS_KEY, 0, -1)


def test_a_job_with_work_in_flight_is_left_alone(stack_factory: Callable[..., LocalStack]) -> None:
    # Calls slower than the grace period: the reconciler must see the messages and wait.
    stack = stack_factory(workers=1, simulator_latency_ms=3000, extra_env=QUICK)
    runner = runner_for(stack)
    sim = SimulatorControl(str(stack.simulator_url))
    record = runner.run("slow but owned job", options={"max_subtasks": 2}, timeout_s=60)
    assert record.status is JobStatus.SUCCEEDED
    assert _worker_calls(sim, runner.settings, "slow but owned job") == 2
    assert all(r.attempts == 1 for r in record.results)


def test_every_message_names_its_job_and_the_scan_finds_it(redis_url: str) -> None:
    # Database 7 of the session's Redis: no process consumes there.
    url = redis_url.rsplit("/", 1)[0] + "/7"
    settings = Settings(redis_url=url)
    app = create_celery_app(settings)
    client = redis_client(settings)
    client.flushdb()
    store = JobStore(client, ttl_s=settings.job_ttl_s)
    record = _planned(store, _stranded(store, settings, "scanned job"), 1)
    from chorus.orchestrator_service.dispatch import assignments

    subtask_signature(app, assignments(settings, record)[0]).apply_async()
    scanner = MessageScanner(client, (names.ORCHESTRATOR_QUEUE, names.SUBTASKS_QUEUE))
    wait_until(
        lambda: record.job_id in scanner.jobs_with_messages(),
        timeout_s=5,
        what="the queued subtask found by its job header",
    )
    client.delete(names.SUBTASKS_QUEUE)
    assert record.job_id not in scanner.jobs_with_messages()
