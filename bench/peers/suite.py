"""Chorus beside arq and dramatiq on the same workload, simulator and Redis server, one worker
process each: (a) 100 jobs × 5 at 0 ms per call, the systems' own cost (wall, CPU and Redis
commands per job); (b) 200 jobs × 5 at 5 s per call, how many calls one process holds.

The bare Celery chord runs beside them as the floor: Celery alone with the same model calls,
which is what Chorus is built on; it is not a peer in the verdicts."""

from __future__ import annotations

import importlib.util
import os
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench import bare_chord
from bench.inflight import InFlightProbe
from bench.infra import BARE_DB, Infra
from bench.peers import common
from bench.resources import CostMeter, children, peak_rss_mb
from bench.systems import BareChordSystem, ChorusSystem, System
from bench.throughput import rates
from chorus.devstack.stack import StackError, wait_until

ARQ_DB, DRAMATIQ_DB, CHORUS_DB = 11, 12, 14
FAST_MS = 0.0
SLOW = "peers-5s"  # the simulator of section (b)
SLOW_MS = 5000.0
PEERS = ("arq", "dramatiq")
DB = {"arq": ARQ_DB, "dramatiq": DRAMATIQ_DB}


def missing(name: str) -> str | None:
    """Why the peer cannot run here, if it cannot: its package is a bench extra."""
    if importlib.util.find_spec(name) is None:
        return f"{name} is not installed (`make install-bench`)"
    return None


@contextmanager
def _systems(
    infra: Infra, simulator: float | str, skipped: dict[str, str]
) -> Iterator[tuple[dict[str, System], dict[str, dict[str, int]]]]:
    """Chorus's default stack and each peer's worker process on `simulator`; the systems and
    the pids whose CPU is theirs. Everything is stopped on the way out."""
    from bench.peers import clients  # imports arq and dramatiq: only once both are there

    stack = infra.chorus(simulator, CHORUS_DB)
    if not infra.bare_pids:  # `--suite all` started them for the core sections already
        infra.start_bare()
    systems: dict[str, System] = {
        "chorus": ChorusSystem(infra.redis_url(CHORUS_DB)),
        "bare_chord": BareChordSystem(infra.redis_url(BARE_DB), infra.simulators[simulator]),
    }
    pids = {
        "chorus": {
            "orchestrator": stack.processes[0].pid,
            "worker": infra.chorus_workers(stack)[0].pid,
        },
        "bare_chord": {
            "plan worker": infra.bare_pids[bare_chord.PLAN_QUEUE],
            "worker": infra.bare_pids[bare_chord.WORK_QUEUE],
        },
    }
    procs = []
    try:
        for name in PEERS:
            if name in skipped:
                continue
            url = infra.redis_url(DB[name])
            env = {
                **infra.env(),
                common.REDIS_URL_ENV: url,
                common.SIMULATOR_URL_ENV: infra.simulators[simulator],
            }
            proc = clients.start_worker(name, infra.workdir, env)
            procs.append(proc)
            make: Callable[[str], System] = (
                clients.ArqSystem if name == "arq" else clients.DramatiqSystem
            )
            systems[name] = make(url)
            pids[name] = _forked(proc.pid) if name == "dramatiq" else {"worker": proc.pid}
        yield systems, pids
    finally:
        for system in systems.values():
            system.close()
        for proc in procs:
            proc.stop()
        infra.stop_chorus(stack)


def _forked(pid: int) -> dict[str, int]:
    """dramatiq's CLI supervises the worker process it forks: both are the system's cost."""
    found: list[int] = []

    def forked() -> bool:
        found[:] = children(pid)
        return bool(found)

    try:
        wait_until(forked, timeout_s=10, what="a forked worker process")
    except StackError:
        return {"worker": pid}  # not forked after all: the process itself works
    return {"worker": found[0], "supervisor": pid}


def _in_turns(names: list[str], repeats: int) -> Iterator[str]:
    for index in range(repeats):
        shift = index % len(names)
        yield from names[shift:] + names[:shift]


def throughput(
    infra: Infra, jobs: int, subtasks: int, repeats: int, skipped: dict[str, str]
) -> dict[str, Any]:
    shared = {
        "redis": infra.redis_pid,
        "simulator": infra.simulator_pids[FAST_MS],
        "client": os.getpid(),
    }
    with _systems(infra, FAST_MS, skipped) as (systems, pids):
        for system in systems.values():
            system.batch(2, subtasks)  # warm-up
        walls: dict[str, list[float]] = {name: [] for name in systems}
        costs: dict[str, Any] = {}
        for name in _in_turns(list(systems), repeats):
            # The first sample of each system is metered; Redis counts over the whole server.
            meter = None
            if name not in costs:
                meter = CostMeter(infra.redis_url(0), {**pids[name], **shared})
                meter.start()
            walls[name].append(systems[name].batch(jobs, subtasks))
            if meter is not None:
                costs[name] = meter.stop(jobs)
        retries = {name: system.retries() for name, system in systems.items()}
    return {
        "latency_ms_per_call": FAST_MS,
        "jobs": jobs,
        "subtasks": subtasks,
        "systems": {
            name: {
                **rates(jobs, subtasks, statistics.median(found)),
                "samples_wall_s": [round(w, 3) for w in found],
                **costs[name],
                "model_call_retries": retries[name],
            }
            for name, found in walls.items()
        },
    }


def load(
    infra: Infra, jobs: int, subtasks: int, repeats: int, skipped: dict[str, str]
) -> dict[str, Any]:
    probe = InFlightProbe(infra.own_simulator(SLOW, ["--latency-ms", str(SLOW_MS)]))
    try:
        with _systems(infra, SLOW, skipped) as (systems, pids):
            for system in systems.values():
                system.batch(1, 1)  # warm-up: a fresh process builds its clients
            walls: dict[str, list[float]] = {name: [] for name in systems}
            flights: dict[str, list[int]] = {name: [] for name in systems}
            for name in _in_turns(list(systems), repeats):
                probe.reset()
                walls[name].append(systems[name].batch(jobs, subtasks))
                flights[name].append(probe.worker_calls_in_flight())
            # From the top process down: dramatiq's counts its supervisor and forked worker.
            rss = {
                name: peak_rss_mb(pids[name].get("supervisor", pids[name]["worker"]))
                for name in systems
            }
            retries = {name: system.retries() for name, system in systems.items()}
    finally:
        probe.close()
    return {
        "latency_ms_per_call": SLOW_MS,
        "jobs": jobs,
        "subtasks": subtasks,
        "systems": {
            name: {
                "wall_s": round(statistics.median(walls[name]), 3),
                "samples_wall_s": [round(w, 3) for w in walls[name]],
                "in_flight": statistics.median(flights[name]),
                "samples_in_flight": flights[name],
                "worker_peak_rss": rss[name],
                "model_call_retries": retries[name],
            }
            for name in systems
        },
    }


def run(infra: Infra, *, jobs: int, load_jobs: int, subtasks: int, repeats: int) -> dict[str, Any]:
    reasons = [why for name in PEERS if (why := missing(name))]
    # bench.peers.clients imports both: without one, neither runs.
    skipped = {name: "; ".join(reasons) for name in PEERS} if reasons else {}
    for name, why in skipped.items():
        print(f"peers: {name} skipped: {why}", flush=True)
    return {
        "peers": {
            "skipped": skipped,
            "throughput": throughput(infra, jobs, subtasks, repeats, skipped),
            "load": load(infra, load_jobs, subtasks, repeats, skipped),
        }
    }
