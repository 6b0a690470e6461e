"""What batch mode saves: the same jobs (the suite's small workload, 5 subtasks) sent as
`options.mode` "normal" and "batch" to one stack on the 0 ms simulator, whose Message Batches
answer each request `DELAY_S` after its batch was created. Total cost is the sum of the
records' `usage.cost_usd`; both wall times (all submitted → all final) are reported beside it.

A probe job in batch mode goes first: if batch mode cannot run here (no batches API on the
simulator, a failed job, calls answered directly), the section is skipped with the reason,
never given a figure."""

from __future__ import annotations

import time
from typing import Any

import httpx

from bench import workload
from bench.caching import BenchJobError, Jobs
from bench.infra import Infra
from chorus.contract.models import JobRecord
from chorus.errors import JobTimeout

LATENCY_MS = 0.0
BATCH_DB = 5
DELAY_S = 1.0  # the simulator's answer time for a batch's requests
ENV = {"CHORUS_BATCH_WINDOW_S": "1", "CHORUS_BATCH_POLL_S": "0.5"}
PROBE_TIMEOUT_S = 60.0
BATCH_TIMEOUT_S = 300.0  # 100 jobs: a planning batch, then a workers' batch, ~5 s here


def _payload(subtasks: int, mode: str) -> dict[str, Any]:
    body = workload.payload(subtasks)
    return body | {"options": {**body["options"], "mode": mode}}


def _all(jobs: Jobs, count: int, subtasks: int, mode: str) -> tuple[float, list[JobRecord]]:
    started = time.perf_counter()
    ids = [jobs.submit(_payload(subtasks, mode)) for _ in range(count)]
    deadline = time.monotonic() + BATCH_TIMEOUT_S
    records = [jobs.wait(i, timeout_s=max(1.0, deadline - time.monotonic())) for i in ids]
    wall = time.perf_counter() - started
    for record in records:
        if record.subtasks_total != subtasks:
            raise BenchJobError(f"job {record.job_id}: {record.subtasks_total} subtasks")
    return wall, records


def _not_batched(record: JobRecord) -> str | None:
    direct = [r.index for r in record.results if not r.batched]
    if direct:
        return f"a batch-mode job's subtasks {direct} were answered directly, not batched"
    return None


def _why_skip(sim: httpx.Client, jobs: Jobs, subtasks: int) -> str | None:
    try:
        reply = sim.put("/_simulator/batches", json={"delay_s": DELAY_S})
    except httpx.HTTPError as exc:
        return f"the simulator's batch settings did not answer ({exc})"
    if reply.status_code != 200:
        return f"the simulator has no batch settings (PUT /_simulator/batches: {reply.status_code})"
    try:
        record = jobs.wait(jobs.submit(_payload(subtasks, "batch")), timeout_s=PROBE_TIMEOUT_S)
    except (BenchJobError, JobTimeout) as exc:
        return f"a batch-mode probe job did not succeed: {exc}"
    return _not_batched(record)


def _totals(wall: float, records: list[JobRecord]) -> dict[str, Any]:
    return {
        "wall_s": round(wall, 3),
        "cost_usd": round(sum(r.usage.cost_usd for r in records), 6),
        "batched_results": sum(1 for r in records for x in r.results if x.batched),
    }


def run(infra: Infra, *, jobs: int, subtasks: int) -> dict[str, Any]:
    stack = infra.chorus(LATENCY_MS, BATCH_DB, env=ENV)
    client = Jobs(infra.redis_url(BATCH_DB))
    sim = httpx.Client(base_url=infra.simulators[LATENCY_MS], timeout=10)
    shape = {"jobs": jobs, "subtasks": subtasks, "delay_s": DELAY_S, "settings": ENV}
    try:
        client.wait(client.submit(_payload(subtasks, "normal")))  # warm-up
        reason = _why_skip(sim, client, subtasks)
        if reason is not None:
            print(f"batch mode skipped: {reason}", flush=True)
            return {"batch": {**shape, "skipped": reason}}
        normal = _totals(*_all(client, jobs, subtasks, "normal"))
        wall, records = _all(client, jobs, subtasks, "batch")
        reason = next(filter(None, map(_not_batched, records)), None)
        if reason is not None:
            print(f"batch mode skipped: {reason}", flush=True)
            return {"batch": {**shape, "skipped": reason}}
        batch = _totals(wall, records)
    finally:
        sim.close()
        client.close()
        infra.stop_chorus(stack)
    return {
        "batch": {
            **shape,
            "normal": normal,
            "batch": batch,
            "cost_ratio": round(batch["cost_usd"] / normal["cost_usd"], 4),
        }
    }
