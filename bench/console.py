"""The console's pages at the server: the jobs page with 10,000 jobs of one tenant in Redis,
and the page of a finished 20-subtask job, each timed in-process (the ASGI app through
Starlette's test client: server time, no network) against the run's private Redis."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from starlette.testclient import TestClient

from chorus.contract.models import (
    JobRecord,
    JobRequest,
    Plan,
    Subtask,
    SubtaskResult,
    SubtaskStatus,
    Usage,
)
from chorus.core import records
from chorus.orchestrator_service.api.app import create_api
from chorus.settings import Settings
from chorus.store.jobs import JobStore

JOBS = 10_000
SUBTASKS = 20
RUNS = 7
TENANT = "bench"
TOKEN = "bench-console-token-0123456789"  # noqa: S105 - the bench's own tenant
TARGET_JOBS_MS = 300.0
TARGET_JOB_MS = 100.0


def _finished(job_id: str, subtasks: int, at: datetime) -> JobRecord:
    request = JobRequest(task=f"Bench job {job_id}", tenant=TENANT)
    record = records.new_record(
        request, job_id, orchestrator_model="claude-sonnet-5-5",
        worker_model="claude-haiku-5-5", simulated=True, now=at,
    )  # fmt: skip
    plan = Plan(
        analysis="a plan",
        subtasks=[
            Subtask(index=i, type=f"part-{i}", description=f"part {i}") for i in range(subtasks)
        ],
    )
    usage = Usage(input_tokens=900, output_tokens=300, cost_usd=0.002)
    running = records.with_plan(record, plan, usage, at)
    results = {
        i: SubtaskResult(
            index=i,
            type=f"part-{i}",
            description=f"part {i}",
            status=SubtaskStatus.SUCCEEDED,
            output="An answer of a few sentences. " * 20,
            attempts=1,
            model="claude-haiku-5-5",
            usage=usage,
            started_at=at + timedelta(seconds=1),
            finished_at=at + timedelta(seconds=2 + i * 0.1),
        )
        for i in range(subtasks)
    }
    return records.finalized(running, results, at + timedelta(seconds=5))


def _fill(store: JobStore) -> str:
    start = datetime.now(UTC) - timedelta(days=1)
    for n in range(JOBS):
        store.create(_finished(f"bench-{n:05d}", 3, start + timedelta(seconds=n)))
    big = f"bench-big-{int(time.time())}"
    store.create(_finished(big, SUBTASKS, start + timedelta(seconds=JOBS + 1)))
    return big


def _timed_ms(client: TestClient, path: str, expect: str) -> list[float]:
    client.get(path)  # warm-up
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        reply = client.get(path, follow_redirects=False)
        samples.append((time.perf_counter() - started) * 1000)
        # The page itself, not a sign-in redirect: what was timed is what was asked for.
        if reply.status_code != 200 or expect not in reply.text:
            raise RuntimeError(f"{path}: {reply.status_code}, {expect!r} not on the page")
    return samples


def run(redis_url: str) -> dict[str, Any]:
    redis.Redis.from_url(redis_url).flushdb()
    settings = Settings(redis_url=redis_url, anthropic_api_key=None, api_tokens=f"{TENANT}:{TOKEN}")
    store = JobStore.from_settings(settings)
    try:
        big = _fill(store)
        with TestClient(create_api(settings)) as client:
            csrf = client.get("/ui/login").text.split('name="csrf" value="')[1].split('"')[0]
            client.post("/ui/login", data={"token": TOKEN, "csrf": csrf})
            jobs_ms = _timed_ms(client, "/ui", "bench-09999")
            job_ms = _timed_ms(client, f"/ui/jobs/{big}", f"part-{SUBTASKS - 1}")
    finally:
        store.close()
        redis.Redis.from_url(redis_url).flushdb()
    return {
        "console": {
            "jobs": JOBS,
            "subtasks": SUBTASKS,
            "jobs_page_ms": round(statistics.median(jobs_ms), 1),
            "job_page_ms": round(statistics.median(job_ms), 1),
            "samples_jobs_page_ms": [round(s, 1) for s in jobs_ms],
            "samples_job_page_ms": [round(s, 1) for s in job_ms],
        }
    }


def _ms(samples: list[float]) -> str:
    return ", ".join(f"{s:.0f}" for s in samples)


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool]]:
    if "console" not in r:
        return []
    c = r["console"]
    return [
        (
            f"console jobs page with {c['jobs']:,} jobs ≤ {TARGET_JOBS_MS:.0f} ms (server)",
            f"{c['jobs_page_ms']:.0f} ms (samples {_ms(c['samples_jobs_page_ms'])})",
            c["jobs_page_ms"] <= TARGET_JOBS_MS,
        ),
        (
            f"console page of a {c['subtasks']}-subtask job ≤ {TARGET_JOB_MS:.0f} ms (server)",
            f"{c['job_page_ms']:.0f} ms (samples {_ms(c['samples_job_page_ms'])})",
            c["job_page_ms"] <= TARGET_JOB_MS,
        ),
    ]
