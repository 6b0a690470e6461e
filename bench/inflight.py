"""In-flight capacity at 1 s per call: 40 jobs × 5 subtasks at once on ONE worker process
(200 calls in flight) and one orchestrator, for Chorus and the bare chord; then Chorus's
worker pools side by side (threads, gevent, and prefork for reference)."""

from __future__ import annotations

import statistics
from typing import Any

import httpx

from bench import bare_chord, workload
from bench.baselines import AsyncioGather
from bench.infra import BARE_DB, Infra
from bench.resources import peak_rss_mb
from bench.systems import BareChordSystem, ChorusSystem, System
from chorus.contract import limits

LATENCY_MS = 1000.0
CHORUS_DB = 2
# 200 processes would not fit this 2-core box; 16 shows the shape (a call per process).
PREFORK_CONCURRENCY = 16


class InFlightProbe:
    """The simulator's own count of worker-model calls held at once: what "N calls in flight"
    means, measured where the calls arrive rather than inferred from wall time."""

    def __init__(self, base_url: str) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=10)

    def reset(self) -> None:
        self._http.post("/_simulator/reset").raise_for_status()

    def worker_calls_in_flight(self) -> int:
        reply = self._http.get("/_simulator/stats")
        reply.raise_for_status()
        by_model: dict[str, int] = reply.json()["max_in_flight_by_model"]
        return int(by_model.get(workload.WORKER_MODEL, 0))

    def close(self) -> None:
        self._http.close()


def _timed(
    system: System, probe: InFlightProbe, jobs: int, subtasks: int, repeats: int
) -> dict[str, Any]:
    system.batch(1, 1)  # warm-up: the first call of a fresh process builds its clients
    walls: list[float] = []
    in_flight: list[int] = []
    for _ in range(repeats):
        probe.reset()
        walls.append(system.batch(jobs, subtasks))
        in_flight.append(probe.worker_calls_in_flight())
    return {
        "wall_s": round(statistics.median(walls), 3),
        "in_flight": statistics.median(in_flight),
        "samples_wall_s": [round(w, 3) for w in walls],
        "samples_in_flight": in_flight,
    }


def run(
    infra: Infra, *, core: bool, pools: bool, jobs: int, subtasks: int, repeats: int
) -> dict[str, Any]:
    url = infra.simulators[LATENCY_MS]
    stack = infra.chorus(LATENCY_MS, CHORUS_DB)
    chorus = ChorusSystem(infra.redis_url(CHORUS_DB))
    probe = InFlightProbe(url)
    out: dict[str, Any] = {}
    pool_rows: list[dict[str, Any]] = []
    try:
        worker = infra.chorus_workers(stack)[0]
        threads = {
            **_timed(chorus, probe, jobs, subtasks, repeats),
            "worker_peak_rss": peak_rss_mb(worker.pid),
        }
        pool_rows.append(
            {"pool": "threads", "concurrency": limits.DEFAULT_WORKER_CONCURRENCY, **threads}
        )
        if core:
            systems: dict[str, Any] = {"chorus": threads}
            bare = BareChordSystem(infra.redis_url(BARE_DB), url)
            local = AsyncioGather(url)
            try:
                systems["bare_chord"] = {
                    **_timed(bare, probe, jobs, subtasks, repeats),
                    "worker_peak_rss": peak_rss_mb(infra.bare_pids[bare_chord.WORK_QUEUE]),
                }
                systems["asyncio"] = _timed(local, probe, jobs, subtasks, repeats)
                out["model_call_retries_at_1s"] = {"bare_chord": bare.retries()}
            finally:
                bare.close()
                local.close()
            out["inflight"] = {
                "latency_ms_per_call": LATENCY_MS,
                "jobs": jobs,
                "subtasks": subtasks,
                "worker_processes": 1,
                "worker_concurrency": limits.DEFAULT_WORKER_CONCURRENCY,
                "orchestrator_concurrency": limits.DEFAULT_ORCHESTRATOR_CONCURRENCY,
                "systems": systems,
            }
        if pools:
            for pool, concurrency in (
                ("gevent", limits.DEFAULT_WORKER_CONCURRENCY),
                ("prefork", PREFORK_CONCURRENCY),
            ):
                infra.remove_worker(stack, worker)
                worker = infra.add_worker(
                    stack, f"worker-{pool}", pool=pool, concurrency=concurrency
                )
                row = _timed(chorus, probe, jobs, subtasks, 1)
                row["worker_peak_rss"] = peak_rss_mb(worker.pid)
                pool_rows.append({"pool": pool, "concurrency": concurrency, **row})
            out["pools"] = {
                "latency_ms_per_call": LATENCY_MS,
                "jobs": jobs,
                "subtasks": subtasks,
                "note": f"prefork at {PREFORK_CONCURRENCY} processes: 200 does not fit 2 cores",
                "rows": pool_rows,
            }
        out.setdefault("model_call_retries_at_1s", {})["chorus"] = chorus.retries()
    finally:
        probe.close()
        chorus.close()
        infra.stop_chorus(stack)
    return out
