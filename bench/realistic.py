"""Single-job latency on the simulator's realistic profile: log-normal call latency with
p99 = 4 × p50 plus time per output token, so the slowest of a job's worker calls, not the
median one, sets its critical path. Each job's critical path is read from the simulator's own
request log (its planning call, then its slowest worker call) and the job's time, submit →
seen final on the client's clock, is set against it."""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx

from bench import workload
from bench.baselines import AsyncioGather
from bench.infra import Infra
from bench.systems import ChorusSystem, System
from bench.tables import NAMES

P50_MS = 300.0
P99_MS = 4 * P50_MS
MS_PER_OUTPUT_TOKEN = 1.0
SEED = 14
FLAGS = (
    "--latency-ms", str(P50_MS), "--latency-p99-ms", str(P99_MS),
    "--ms-per-output-token", str(MS_PER_OUTPUT_TOKEN), "--seed", str(SEED),
)  # fmt: skip
CHORUS_DB = 3


class RequestLog:
    """The simulator's record of the calls it answered: model, start and end on its clock."""

    def __init__(self, base_url: str) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=10)

    def since(self, started: float) -> list[dict[str, Any]]:
        reply = self._http.get("/_simulator/requests")
        reply.raise_for_status()
        found: list[dict[str, Any]] = reply.json()
        return [r for r in found if r["started_at"] >= started]

    def close(self) -> None:
        self._http.close()


def critical_path(calls: list[dict[str, Any]], subtasks: int) -> dict[str, Any]:
    """(plan call, slowest worker call, their sum) in seconds, from one job's calls."""
    plans = [c for c in calls if c["model"] == workload.ORCHESTRATOR_MODEL]
    workers = [c for c in calls if c["model"] == workload.WORKER_MODEL]
    if len(plans) != 1 or len(workers) != subtasks:
        raise RuntimeError(f"expected 1 plan and {subtasks} worker calls, saw {len(calls)}")
    plan_s = plans[0]["finished_at"] - plans[0]["started_at"]
    durations = [w["finished_at"] - w["started_at"] for w in workers]
    return {"plan_s": plan_s, "slowest_worker_s": max(durations), "worker_calls": durations}


def run(infra: Infra, *, subtasks: int, runs: int) -> dict[str, Any]:
    url = infra.realistic_simulator(FLAGS)
    stack = infra.chorus(infra.REALISTIC, CHORUS_DB)
    log = RequestLog(url)
    systems: list[System] = [ChorusSystem(infra.redis_url(CHORUS_DB)), AsyncioGather(url)]
    samples: dict[str, list[dict[str, Any]]] = {s.name: [] for s in systems}
    try:
        for system in systems:
            system.one(subtasks)  # warm-up
        for index in range(runs):
            shift = index % len(systems)
            for system in systems[shift:] + systems[:shift]:
                started = time.time()
                timing = system.one(subtasks)
                path = critical_path(log.since(started), subtasks)
                critical = path["plan_s"] + path["slowest_worker_s"]
                samples[system.name].append(
                    {
                        "job_s": round(timing.submit_to_final_s, 4),
                        "critical_path_s": round(critical, 4),
                        "over_ms": round((timing.submit_to_final_s - critical) * 1000, 1),
                        "plan_s": round(path["plan_s"], 4),
                        "slowest_worker_s": round(path["slowest_worker_s"], 4),
                        "median_worker_s": round(statistics.median(path["worker_calls"]), 4),
                    }
                )
    finally:
        log.close()
        for system in systems:
            system.close()
        infra.stop_chorus(stack)
    return {"realistic_latency": _summary(samples, subtasks, runs)}


def _summary(samples: dict[str, list[dict[str, Any]]], subtasks: int, runs: int) -> dict[str, Any]:
    def median(rows: list[dict[str, Any]], key: str) -> float:
        return round(float(statistics.median(r[key] for r in rows)), 4)

    return {
        "profile": {"p50_ms": P50_MS, "p99_ms": P99_MS, "ms_per_output_token": MS_PER_OUTPUT_TOKEN,
                    "seed": SEED},
        "subtasks": subtasks,
        "runs": runs,
        "systems": {
            name: {
                "job_s": median(rows, "job_s"),
                "critical_path_s": median(rows, "critical_path_s"),
                "over_critical_path_ms": median(rows, "over_ms"),
                "slowest_worker_s": median(rows, "slowest_worker_s"),
                "median_worker_s": median(rows, "median_worker_s"),
                "samples": rows,
            }
            for name, rows in samples.items()
        },
    }  # fmt: skip


def markdown(r: dict[str, Any]) -> list[str]:
    if "realistic_latency" not in r:
        return []
    x = r["realistic_latency"]
    p = x["profile"]
    out = [
        f"## Single job on the realistic simulator: {x['subtasks']} subtasks, median of "
        f"{x['runs']}",
        "",
        f"Call latency log-normal with p50 {p['p50_ms']:.0f} ms and p99 {p['p99_ms']:.0f} ms, "
        f"plus {p['ms_per_output_token']:g} ms per output token (seed {p['seed']}). Each job's "
        "critical path is its own planning call plus its slowest worker call, from the "
        "simulator's request log; the job is timed submit → seen final.",
        "",
        "| system | job | its critical path | over it | slowest worker call | median worker "
        "call | samples: over critical path |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in x["systems"].items():
        overs = ", ".join(f"{row['over_ms']:.0f}" for row in s["samples"])
        out.append(
            f"| {NAMES[name]} | {s['job_s'] * 1000:.0f} ms | "
            f"{s['critical_path_s'] * 1000:.0f} ms | "
            f"{s['over_critical_path_ms']:+.0f} ms | {s['slowest_worker_s'] * 1000:.0f} ms | "
            f"{s['median_worker_s'] * 1000:.0f} ms | {overs} ms |"
        )
    return [*out, ""]
