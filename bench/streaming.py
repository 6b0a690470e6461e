"""What publishing the workers' text costs, and how soon it reaches someone following a job.

Two Chorus stacks on the same Redis server and simulators (their own databases): one as
shipped (`subtask_delta` events on), one with `CHORUS_STREAM_DELTAS=false` (the calls still
stream; nothing is published), taken in turns so the machine's noise falls on both alike.

- latency: a 5-subtask job at 200 ms per call, median of the record's own clock;
- throughput: 100 jobs x 5 at 0 ms per call, median of the batches' wall time: at least six
  batches each, alternating, since a 5% difference is within one batch's noise here;
- first delta: through a `chorus api` in front of the streaming stack, the time from the
  simulator sending a subtask's first token (its own `first_token_at`, same machine clock)
  to an SSE client reading that subtask's first `subtask_delta`.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx

from bench.infra import Infra
from bench.latency import in_turns
from bench.systems import ChorusSystem, System
from chorus.client.http import Client
from chorus.contract.events import EventKind

LATENCY_MS = 200.0
LOAD_MS = 0.0
ON_DB, OFF_DB = 7, 8
LOAD_ON_DB, LOAD_OFF_DB = 9, 10
OFF = {"CHORUS_STREAM_DELTAS": "false"}


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 4)


def _latency(infra: Infra, subtasks: int, runs: int) -> dict[str, Any]:
    stacks = [infra.chorus(LATENCY_MS, ON_DB), infra.chorus(LATENCY_MS, OFF_DB, env=OFF)]
    on, off = ChorusSystem(infra.redis_url(ON_DB)), ChorusSystem(infra.redis_url(OFF_DB))
    off.name = "chorus_no_deltas"
    systems: list[System] = [on, off]
    try:
        for system in systems:
            system.one(subtasks)  # warm-up
        timings = in_turns(systems, subtasks, runs)
        first = _first_delta(stacks[0], subtasks, runs)
    finally:
        for system in systems:
            system.close()
        for stack in stacks:
            infra.stop_chorus(stack)
    with_s = _median([t.in_system_s for t in timings[on.name]])
    without_s = _median([t.in_system_s for t in timings[off.name]])
    return {
        "job_s": {"deltas_on": with_s, "deltas_off": without_s},
        "added_ms": round((with_s - without_s) * 1000, 1),
        "first_delta_ms": first,
    }


def _first_delta(stack: Any, subtasks: int, runs: int) -> dict[str, float]:
    """When the SSE client read each subtask's first delta, minus when the simulator sent the
    first token of a worker call of that job. One job at a time; the calls' first tokens and
    the subtasks' first deltas are paired in time order (the simulator cannot tell which
    subtask a call is for)."""
    url = stack.add_api()
    sim = httpx.Client(base_url=stack.simulator_url, timeout=10)
    gaps: list[float] = []
    try:
        with Client(url, None, timeout_s=60) as client:
            for _ in range(runs):
                seen: dict[int, float] = {}
                began = time.time()
                job_id = client.submit("Streaming bench", options={"max_subtasks": subtasks})
                for event in client.events(job_id):
                    index = event.data.get("index")
                    if event.kind is EventKind.SUBTASK_DELTA and index is not None:
                        seen.setdefault(int(index), time.time())
                sent = _first_tokens(sim, since=began)
                received = sorted(seen.values())
                gaps += [(got - out) * 1000 for got, out in zip(received, sent, strict=False)]
    finally:
        sim.close()
    return {
        "median": round(statistics.median(gaps), 1) if gaps else float("nan"),
        "max": round(max(gaps), 1) if gaps else float("nan"),
        "samples": len(gaps),
    }


def _first_tokens(sim: httpx.Client, *, since: float) -> list[float]:
    """The first-token times of the streamed calls the simulator began after `since`."""
    requests = sim.get("/_simulator/requests").json()
    return sorted(
        float(r["first_token_at"])
        for r in requests
        if r.get("stream") and r.get("first_token_at") and float(r["started_at"]) >= since
    )


def _throughput(infra: Infra, jobs: int, subtasks: int, repeats: int) -> dict[str, Any]:
    stacks = [
        infra.chorus(LOAD_MS, LOAD_ON_DB),
        infra.chorus(LOAD_MS, LOAD_OFF_DB, env=OFF),
    ]
    on, off = ChorusSystem(infra.redis_url(LOAD_ON_DB)), ChorusSystem(infra.redis_url(LOAD_OFF_DB))
    walls: dict[str, list[float]] = {"deltas_on": [], "deltas_off": []}
    try:
        for system in (on, off):
            system.batch(2, subtasks)
        for n in range(repeats):
            order = [("deltas_on", on), ("deltas_off", off)]
            for name, system in order if n % 2 == 0 else order[::-1]:
                walls[name].append(system.batch(jobs, subtasks))
    finally:
        for system in (on, off):
            system.close()
        for stack in stacks:
            infra.stop_chorus(stack)
    medians = {name: _median(values) for name, values in walls.items()}
    return {
        "wall_s": medians,
        "samples": walls,
        "drop": round(1 - medians["deltas_off"] / medians["deltas_on"], 4),
    }


def run(infra: Infra, *, subtasks: int, runs: int, jobs: int, repeats: int) -> dict[str, Any]:
    latency = _latency(infra, subtasks, runs)
    load = _throughput(infra, jobs, subtasks, max(2 * repeats, 6))
    return {"streaming": {"latency": latency, "throughput": load}}


ADDED_MS_TARGET = 20.0
DROP_TARGET = 0.05
FIRST_DELTA_MS_TARGET = 100.0


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool]]:
    if "streaming" not in r:
        return []
    lat, load = r["streaming"]["latency"], r["streaming"]["throughput"]
    jobs = lat["job_s"]
    first = lat["first_delta_ms"]
    walls = load["wall_s"]
    return [
        (
            f"streaming adds ≤ {ADDED_MS_TARGET:.0f} ms to a job at {LATENCY_MS:.0f} ms per call",
            f"{lat['added_ms']:+.0f} ms ({jobs['deltas_on'] * 1000:.0f} ms with deltas, "
            f"{jobs['deltas_off'] * 1000:.0f} ms without, medians in turns)",
            lat["added_ms"] <= ADDED_MS_TARGET,
        ),
        (
            f"100×5 throughput drops ≤ {DROP_TARGET:.0%} with deltas on",
            f"{load['drop']:+.1%} ({walls['deltas_on']:.2f} s on, "
            f"{walls['deltas_off']:.2f} s off, medians)",
            load["drop"] <= DROP_TARGET,
        ),
        (
            f"first delta at an SSE client ≤ {FIRST_DELTA_MS_TARGET:.0f} ms after the "
            "simulator's first token",
            f"median {first['median']:.0f} ms, max {first['max']:.0f} ms "
            f"({first['samples']} subtasks)",
            first["max"] <= FIRST_DELTA_MS_TARGET,
        ),
    ]
