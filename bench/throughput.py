"""Throughput at 0 ms per call, where only the systems' own cost is left: a batch of jobs
submitted at once, for every system in turns; the jobs curve; the Redis memory a finished job
keeps; and Chorus with more worker processes."""

from __future__ import annotations

import os
import statistics
from typing import Any

from bench import bare_chord
from bench.baselines import AsyncioGather, SequentialLoop
from bench.infra import BARE_DB, Infra
from bench.resources import CostMeter, RedisFootprint, Snapshot, peak_rss_mb
from bench.systems import BareChordSystem, ChorusSystem, System
from chorus.contract import names

LATENCY_MS = 0.0
CHORUS_DB = 1
SMALL_BATCH = 10  # batches this small finish in well under a second: take a median of three


def rates(jobs: int, subtasks: int, wall_s: float) -> dict[str, float]:
    return {
        "wall_s": round(wall_s, 3),
        "jobs_per_s": round(jobs / wall_s, 2),
        "subtasks_per_s": round(jobs * subtasks / wall_s, 1),
    }


def _median_wall(system: System, jobs: int, subtasks: int, repeats: int) -> list[float]:
    return [system.batch(jobs, subtasks) for _ in range(repeats)]


def run(
    infra: Infra,
    *,
    core: bool,
    pools: bool,
    jobs: int,
    subtasks: int,
    repeats: int,
    curve: list[int],
    worker_counts: list[int],
) -> dict[str, Any]:
    url = infra.simulators[LATENCY_MS]
    stack = infra.chorus(LATENCY_MS, CHORUS_DB)
    chorus = ChorusSystem(infra.redis_url(CHORUS_DB))
    # The pools suite measures Chorus alone (the bare chord's workers run for core only).
    queued: list[System] = [chorus]
    local: list[System] = []
    if core:
        queued.append(BareChordSystem(infra.redis_url(BARE_DB), url))
        local += [AsyncioGather(url), SequentialLoop(url)]
    out: dict[str, Any] = {}
    try:
        for system in queued + local:
            system.batch(2, subtasks)  # warm-up
        if core:
            shared = {
                "redis": infra.redis_pid,
                "simulator": infra.simulator_pids[LATENCY_MS],
                "client": os.getpid(),
            }
            orchestrator, worker = stack.processes[0], infra.chorus_workers(stack)[0]
            pids = {
                "chorus": {"orchestrator": orchestrator.pid, "worker": worker.pid, **shared},
                "bare_chord": {
                    "plan worker": infra.bare_pids[bare_chord.PLAN_QUEUE],
                    "work worker": infra.bare_pids[bare_chord.WORK_QUEUE],
                    **shared,
                },
                "asyncio": shared,
            }
            out |= _core(queued, local, jobs, subtasks, repeats, curve, infra, pids)
            out["chorus_worker_rss_at_0ms"] = peak_rss_mb(infra.chorus_workers(stack)[0].pid)
        if pools:
            done = out.get("throughput", {}).get("systems", {}).get("chorus", {})
            points = []
            for count in worker_counts:
                while len(infra.chorus_workers(stack)) < count:
                    infra.add_worker(stack, f"worker{len(infra.chorus_workers(stack)) + 1}")
                    chorus.batch(2, subtasks)  # warm-up for the new process
                walls = done.get("samples_wall_s") if count == 1 and done else None
                walls = walls or _median_wall(chorus, jobs, subtasks, repeats)
                points.append({"workers": count, **rates(jobs, subtasks, statistics.median(walls))})
            out["chorus_worker_processes"] = {"jobs": jobs, "subtasks": subtasks, "points": points}
        out["model_call_retries_at_0ms"] = {s.name: s.retries() for s in queued}
    finally:
        for system in queued + local:
            system.close()
        infra.stop_chorus(stack)
    return out


def _core(
    queued: list[System],
    local: list[System],
    jobs: int,
    subtasks: int,
    repeats: int,
    curve: list[int],
    infra: Infra,
    pids: dict[str, dict[str, int]],
) -> dict[str, Any]:
    footprints = {
        "chorus": RedisFootprint(
            infra.redis_url(CHORUS_DB), [names.ORCHESTRATOR_QUEUE, names.SUBTASKS_QUEUE]
        ),
        "bare_chord": RedisFootprint(
            infra.redis_url(BARE_DB),
            [bare_chord.PLAN_QUEUE, bare_chord.WORK_QUEUE],
            record_pattern=None,
        ),
    }
    memory: dict[str, Any] = {}
    costs: dict[str, Any] = {}
    turns = queued + local[:1]  # the sequential loop is too slow to repeat; it runs once
    walls: dict[str, list[float]] = {s.name: [] for s in turns}
    for index in range(repeats):
        shift = index % len(turns)
        for system in turns[shift:] + turns[:shift]:
            footprint = footprints.get(system.name) if index == 0 else None
            before: Snapshot | None = footprint.snapshot() if footprint else None
            meter = CostMeter(infra.redis_url(0), pids[system.name]) if index == 0 else None
            if meter is not None:
                meter.start()
            walls[system.name].append(system.batch(jobs, subtasks))
            if meter is not None:
                costs[system.name] = meter.stop(jobs)
            if footprint is not None and before is not None:
                memory[system.name] = footprint.since(before, jobs)
    for footprint in footprints.values():
        footprint.close()
    sequential = local[1]
    walls[sequential.name] = [sequential.batch(jobs, subtasks)]

    bare_wall = statistics.median(walls["bare_chord"])
    systems = {
        name: {
            **rates(jobs, subtasks, statistics.median(found)),
            "ratio_to_bare_chord": round(bare_wall / statistics.median(found), 3),
            "samples_wall_s": [round(w, 3) for w in found],
        }
        for name, found in walls.items()
    }
    curve_walls: dict[str, list[float]] = {s.name: [] for s in turns}
    for count in curve:
        for system in turns:
            runs = 3 if count <= SMALL_BATCH else 1
            curve_walls[system.name].append(
                statistics.median(_median_wall(system, count, subtasks, runs))
            )
    return {
        "throughput": {
            "latency_ms_per_call": LATENCY_MS,
            "jobs": jobs,
            "subtasks": subtasks,
            "repeats": repeats,
            "systems": systems,
        },
        "jobs_curve": {
            "latency_ms_per_call": LATENCY_MS,
            "jobs": curve,
            "subtasks": subtasks,
            "systems": {
                name: {
                    "wall_s": [round(w, 3) for w in found],
                    "jobs_per_s": [round(n / w, 2) for n, w in zip(curve, found, strict=True)],
                }
                for name, found in curve_walls.items()
            },
        },
        "redis_memory": memory,
        "cost_per_job": {"jobs": jobs, "subtasks": subtasks, "systems": costs},
    }
