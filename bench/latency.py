"""Single-job latency at 200 ms per call: the sequential loop, asyncio, the bare chord and
Chorus, taken in turns so the machine's noise falls on all of them alike; then the same for
more and fewer subtasks per job."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from bench.baselines import AsyncioGather, SequentialLoop, SequentialTiming
from bench.infra import BARE_DB, Infra
from bench.systems import BareChordSystem, ChorusSystem, JobTiming, System

LATENCY_MS = 200.0
CHORUS_DB = 0


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 4)


def in_turns(
    systems: list[System], subtasks: int, runs: int, before_each: Callable[[], None] = lambda: None
) -> dict[str, list[JobTiming]]:
    timings: dict[str, list[JobTiming]] = {s.name: [] for s in systems}
    for run in range(runs):
        before_each()
        # Rotated each run, so no system always goes first after the idle gap.
        shift = run % len(systems)
        for system in systems[shift:] + systems[:shift]:
            timings[system.name].append(system.one(subtasks))
    return timings


def run(
    infra: Infra, *, subtasks: int, runs: int, curve: list[int], curve_runs: int
) -> dict[str, Any]:
    url = infra.simulators[LATENCY_MS]
    stack = infra.chorus(LATENCY_MS, CHORUS_DB)
    sequential = SequentialLoop(url)
    systems: list[System] = [
        AsyncioGather(url),
        BareChordSystem(infra.redis_url(BARE_DB), url),
        ChorusSystem(infra.redis_url(CHORUS_DB)),
    ]
    try:
        for system in [sequential, *systems]:
            system.one(subtasks)  # warm-up: imports, connections, lazily built clients
        seq: list[SequentialTiming] = []
        # The sequential loop runs in every round too: the critical path is measured in the
        # same minutes as the systems it is the yardstick for.
        timings = in_turns(systems, subtasks, runs, lambda: seq.append(sequential.timed(subtasks)))
        points = {n: in_turns(systems, n, curve_runs) for n in curve if n != subtasks}
        points[subtasks] = timings
        retries = {s.name: s.retries() for s in systems}
    finally:
        for system in [sequential, *systems]:
            system.close()
        infra.stop_chorus(stack)

    plan_s = _median([t.plan_s for t in seq])
    worker_s = _median([t.worker_s for t in seq])
    critical_s = plan_s + worker_s
    sequential_s = _median([t.total_s for t in seq])
    headline: dict[str, Any] = {}
    for name, found in timings.items():
        # One clock for every system, the sequential loop's included: the client's, from
        # sending the job to seeing it final. The system's own figure is reported beside it.
        job_s = _median([t.submit_to_final_s for t in found])
        headline[name] = {
            "in_system_s": _median([t.in_system_s for t in found]),
            "submit_to_final_s": job_s,
            "overhead_over_critical_path_ms": round((job_s - critical_s) * 1000, 1),
            "ratio_to_critical_path": round(job_s / critical_s, 3),
            "speedup_vs_sequential": round(sequential_s / job_s, 2),
            "samples_submit_to_final_s": [round(t.submit_to_final_s, 4) for t in found],
            "samples_in_system_s": [round(t.in_system_s, 4) for t in found],
        }
    return {
        "latency": {
            "latency_ms_per_call": LATENCY_MS,
            "subtasks": subtasks,
            "runs": runs,
            "plan_call_s": plan_s,
            "worker_call_s": worker_s,
            "critical_path_s": round(critical_s, 4),
            "sequential_s": sequential_s,
            "systems": headline,
            "model_call_retries": retries,
        },
        "latency_curve": {
            "latency_ms_per_call": LATENCY_MS,
            "subtasks": sorted(points),
            "runs": curve_runs,
            "systems": {
                s.name: {
                    "in_system_s": [
                        _median([t.in_system_s for t in points[n][s.name]]) for n in sorted(points)
                    ],
                    "submit_to_final_s": [
                        _median([t.submit_to_final_s for t in points[n][s.name]])
                        for n in sorted(points)
                    ],
                }
                for s in systems
            },
        },
    }
