"""Proofs for docs/reliability.md that fail when their guarantee is broken: one synthesis call
for a gather step triggered twice, spend counted exactly once, no lost update under
concurrent writers. Each was checked by breaking the production code (see the doc's table)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from celery.result import AsyncResult

from chorus.contract import names
from chorus.contract.events import EventKind
from chorus.contract.models import (
    JobRecord,
    JobRequest,
    JobStatus,
    Plan,
    Subtask,
    SubtaskResult,
    SubtaskStatus,
    Usage,
)
from chorus.core import metrics, records
from chorus.core.prompts import SYNTHESIS_INSTRUCTIONS
from chorus.core.submission import build_request, initial_record
from chorus.devstack.stack import wait_until
from chorus.runtime.app import ChorusCelery
from chorus.runtime.signatures import gather_signature
from chorus.store.jobs import JobStore
from tests.support.runner import JobRunner, release
from tests.support.simulator_control import SimulatorControl

PLANNING = Usage(input_tokens=40, output_tokens=9)


def _plan(n: int) -> Plan:
    subtasks = [Subtask(index=i, type=f"part{i}", description=f"part {i}") for i in range(n)]
    return Plan(analysis="split it", subtasks=subtasks)


def _result(index: int, model: str | None, tokens: int) -> SubtaskResult:
    now = records.utc_now()
    return SubtaskResult(
        index=index, type=f"part{index}", description=f"part {index}",
        status=SubtaskStatus.SUCCEEDED, output=f"output {index}", model=model,
        usage=Usage(input_tokens=tokens, output_tokens=tokens + 1), started_at=now, finished_at=now,
    )  # fmt: skip


@pytest.fixture
def made_here(store: JobStore) -> Iterator[list[str]]:
    """Job ids this test wrote by hand: cancelled at teardown (so final and off the active
    list), or the reconciler would drive them on with their made-up models."""
    job_ids: list[str] = []
    yield job_ids
    for job_id in job_ids:
        store.cancel(job_id)


def _create_planning_job(store: JobStore, job_id: str, model: str) -> None:
    now = records.utc_now()
    request = JobRequest(task="t")
    store.create(
        records.new_record(
            request, job_id, orchestrator_model=model, worker_model=model, simulated=True, now=now
        )
    )


def _control_tokens(store: JobStore, job_id: str) -> int:
    return int(store._redis.hget(names.job_control_key(job_id), "tokens") or 0)


def _metrics(store: JobStore) -> dict[str, float]:
    raw = store._redis.hgetall(names.METRICS_KEY)  # the store decodes replies to str
    return {str(k): float(v) for k, v in raw.items()}


def test_a_gather_step_triggered_twice_at_once_calls_synthesis_once(
    jobs: JobRunner,
    client_app: ChorusCelery,
    sim: SimulatorControl,
    request: pytest.FixtureRequest,
) -> None:
    # A running job with every result stored and no gather sent yet: the gather steps below
    # are the only ones, all delivered at once to the orchestrator (64 slots).
    task = f"Pitch a proof {uuid.uuid4().hex}."
    job_request = build_request({"task": task, "options": {"max_subtasks": 2, "synthesize": True}})
    job_id = jobs.store.create(initial_record(job_request, jobs.settings)).job_id
    jobs.store.update(job_id, lambda r: records.with_plan(r, _plan(2), PLANNING, r.updated_at))
    for index in range(2):
        jobs.store.save_result(job_id, _result(index, jobs.settings.worker_model, 5))

    sent = [gather_signature(client_app, job_id).apply_async() for _ in range(3)]
    request.addfinalizer(lambda: release(*sent))

    # Each gather either finished the job or was told to wait for the synthesis claim.
    def settled(result: AsyncResult) -> bool:
        return result.state in ("SUCCESS", "RETRY")

    wait_until(lambda: all(settled(r) for r in sent), timeout_s=30, what="gathers settled")
    record = jobs.store.get(job_id)
    assert record.status is JobStatus.SUCCEEDED and record.synthesis
    synthesis_calls = [
        r for r in sim.requests() if SYNTHESIS_INSTRUCTIONS in r["text"] and task in r["text"]
    ]
    assert len(synthesis_calls) == 1
    assert len(jobs.events(job_id, EventKind.JOB_FINISHED)) == 1


def test_spend_is_the_planning_and_results_usage_exactly(jobs: JobRunner) -> None:
    # Earlier tests' jobs finish first, so the token counters move for this job alone.
    active = names.ACTIVE_JOBS_KEY
    wait_until(lambda: jobs.store._redis.zcard(active) == 0, timeout_s=60, what="no job active")
    before = _metrics(jobs.store)
    record = jobs.run("Plan a week of meals.", options={"max_subtasks": 3})
    after = _metrics(jobs.store)

    assert record.status is JobStatus.SUCCEEDED, record.error
    spent = record.planning_usage.total_tokens + sum(r.usage.total_tokens for r in record.results)
    assert spent == record.usage.total_tokens > record.planning_usage.total_tokens
    assert _control_tokens(jobs.store, record.job_id) == spent
    expected: dict[str, float] = dict(
        metrics.token_increments(record.orchestrator_model, record.planning_usage)
    )
    for result in record.results:
        for field, n in metrics.token_increments(result.model, result.usage).items():
            expected[field] = expected.get(field, 0) + n
    grew = {f: after.get(f, 0) - before.get(f, 0) for f in expected}
    # Token counts exactly; dollars up to the rounding of Redis's float sums (HINCRBYFLOAT).
    dollars = {f for f in expected if f.startswith("cost:")}
    assert dollars, expected  # the job's calls were priced
    assert {f: grew[f] for f in expected if f not in dollars} == {
        f: n for f, n in expected.items() if f not in dollars
    }
    assert {f: grew[f] for f in dollars} == pytest.approx({f: expected[f] for f in dollars})


def test_a_result_saved_twice_counts_its_spend_and_metrics_once(
    store: JobStore, made_here: list[str]
) -> None:
    # Models no other test uses, so the fleet counters for them move only here.
    model = f"proof-{uuid.uuid4().hex}"
    job_id = f"proof-{uuid.uuid4().hex}"
    _create_planning_job(store, job_id, model)
    made_here.append(job_id)
    store.update(job_id, lambda r: records.with_plan(r, _plan(2), PLANNING, r.updated_at))
    first = _result(0, model, 7)
    before = _metrics(store)

    # A tenant no other test uses: its counters, like the model's, move only here. The global
    # `subtasks_finished` counter is bumped by the same atomic script as these, but other
    # tests' jobs move it concurrently, so it cannot be compared exactly.
    tenant = f"proof-{uuid.uuid4().hex[:12]}"
    assert store.save_result(job_id, first, tenant) == first
    assert store.save_result(job_id, _result(0, model, 100), tenant) == first  # a redelivery
    after = _metrics(store)

    assert _control_tokens(store, job_id) == PLANNING.total_tokens + first.usage.total_tokens
    counted = metrics.result_increments(first, tenant)
    for kind in ("input", "output"):
        for field in (f"tokens:{model}:{kind}", f"tenant_tokens:{tenant}:{kind}"):
            assert after[field] - before.get(field, 0) == counted[field]
            assert counted[field] == getattr(first.usage, f"{kind}_tokens")


def test_concurrent_updates_of_one_record_lose_nothing(
    store: JobStore, made_here: list[str]
) -> None:
    job_id = f"proof-{uuid.uuid4().hex}"
    _create_planning_job(store, job_id, "proof-model")
    made_here.append(job_id)
    threads, updates = 16, 25
    one_token = Usage(input_tokens=1)
    start = threading.Barrier(threads)

    def add_one(record: JobRecord) -> JobRecord:
        return records.with_planning_spend(record, one_token, record.updated_at)

    errors: list[BaseException] = []

    def writer() -> None:
        try:
            start.wait(timeout=10)
            for _ in range(updates):
                store.update(job_id, add_one)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    running = [threading.Thread(target=writer) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in running)
    assert errors == []

    assert store.get(job_id).planning_usage.input_tokens == threads * updates
