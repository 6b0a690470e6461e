"""Verdicts, tables and the README line of the peers section (bench/peers/suite.py)."""

from __future__ import annotations

from typing import Any

from bench.tables import NAMES, rss, samples_s, table

LOAD_WALL_TARGET_S = 15.0
PEER_NAMES = {**NAMES, "arq": "arq", "dramatiq": "dramatiq (gevent)"}


FLOOR = "bare_chord"  # Celery alone with the same calls: shown beside the peers, not one


def _peers(systems: dict[str, Any]) -> dict[str, Any]:
    return {name: s for name, s in systems.items() if name not in ("chorus", FLOOR)}


def _floor(systems: dict[str, Any], key: str, unit: str) -> str:
    floor = systems.get(FLOOR)
    return f"; {PEER_NAMES[FLOOR]} {floor[key]:.1f}{unit}" if floor else ""


def _skipped(r: dict[str, Any]) -> str:
    skipped = r["peers"]["skipped"]
    return "; ".join(f"{name} skipped ({why})" for name, why in skipped.items())


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool]]:
    if "peers" not in r:
        return []
    rows = []
    load = r["peers"]["load"]
    chorus, peers = load["systems"]["chorus"], _peers(load["systems"])
    best = min(peers.items(), key=lambda kv: kv[1]["wall_s"]) if peers else None
    measured = f"Chorus {chorus['wall_s']:.1f} s"
    if best is not None:
        measured += f"; best peer {PEER_NAMES[best[0]]} {best[1]['wall_s']:.1f} s"
    else:
        measured += f"; no peer measured: {_skipped(r)}"
    measured += _floor(load["systems"], "wall_s", " s")
    rows.append(
        (
            f"{load['jobs']}×{load['subtasks']} at {load['latency_ms_per_call'] / 1000:.0f} s "
            f"per call: Chorus ≤ {LOAD_WALL_TARGET_S:.0f} s and ≤ the best peer's wall",
            measured,
            chorus["wall_s"] <= LOAD_WALL_TARGET_S
            and (best is None or chorus["wall_s"] <= best[1]["wall_s"]),
        )
    )
    fast = r["peers"]["throughput"]
    chorus, peers = fast["systems"]["chorus"], _peers(fast["systems"])
    goal = (
        f"{fast['jobs']}×{fast['subtasks']} at {fast['latency_ms_per_call']:.0f} ms per call: "
        "Chorus jobs/s ≥ the best peer's"
    )
    if peers:
        name, top = max(peers.items(), key=lambda kv: kv[1]["jobs_per_s"])
        rows.append(
            (
                goal,
                f"Chorus {chorus['jobs_per_s']:.1f}/s; best peer {PEER_NAMES[name]} "
                f"{top['jobs_per_s']:.1f}/s" + _floor(fast["systems"], "jobs_per_s", "/s"),
                chorus["jobs_per_s"] >= top["jobs_per_s"],
            )
        )
    else:
        rows.append((goal, f"no peer measured: {_skipped(r)}", False))
    return rows


def _cpu(s: dict[str, Any]) -> str:
    parts = ", ".join(f"{k} {v:.0f}" for k, v in s["cpu_ms_per_job"].items())
    return f"{s['cpu_ms_per_job_total']:.0f} ({parts})"


def markdown(r: dict[str, Any]) -> list[str]:
    if "peers" not in r:
        return []
    p = r["peers"]
    fast, load = p["throughput"], p["load"]
    out = [
        "## Peers: arq and dramatiq on the same workload",
        "",
        "One worker process per system, the same simulator and Redis server: arq (asyncio, "
        "max_jobs 1000, its defaults otherwise: a 0.5 s queue poll), dramatiq under gevent "
        "(1000 greenlets, a group with a completion callback; its CLI's supervisor process "
        "counted too) and Chorus's default stack (orchestrator + one threads worker). Each "
        "peer's gather writes one JSON record in Redis; the client polls the records. "
        "Dropped connections are retried at once, in place, as the bare chord does. "
        "The bare Celery chord (Celery's defaults, the same streamed calls through Chorus's "
        "model client, nothing else; a plan worker at 200 threads and a work worker at 1000) "
        "is the floor Chorus is built on, shown beside the peers but not one of them; its "
        "work worker serves every section of a run, so its peak RSS is the run's.",
        "",
    ]
    if p["skipped"]:
        out += [f"Skipped: {_skipped(r)}.", ""]
    out += [
        f"### {fast['jobs']} jobs × {fast['subtasks']} at {fast['latency_ms_per_call']:.0f} ms "
        f"per call (median of {len(fast['systems']['chorus']['samples_wall_s'])}; CPU and "
        "Redis commands from the first sample, redis, simulator and client included)",
        "",
    ]
    out += table(
        ["system", "wall", "jobs/s", "CPU ms per job (by process)", "Redis commands per job",
         "retries", "samples"],
        [
            [PEER_NAMES[name], f"{s['wall_s']:.2f} s", f"{s['jobs_per_s']:.1f}", _cpu(s),
             f"{s['redis_commands_per_job']:.0f}", str(s["model_call_retries"]),
             samples_s(s["samples_wall_s"])]
            for name, s in fast["systems"].items()
        ],
    )  # fmt: skip
    out += [
        f"### {load['jobs']} jobs × {load['subtasks']} at "
        f"{load['latency_ms_per_call'] / 1000:.0f} s per call (median of "
        f"{len(load['systems']['chorus']['samples_wall_s'])})",
        "",
        "Worker calls in flight: the simulator's own peak count for the worker model.",
        "",
    ]
    out += table(
        ["system", "wall", "worker calls in flight", "worker peak RSS", "retries",
         "samples (wall)", "samples (in flight)"],
        [
            [PEER_NAMES[name], f"{s['wall_s']:.1f} s", f"{s['in_flight']:.0f}",
             rss(s["worker_peak_rss"]), str(s["model_call_retries"]),
             samples_s(s["samples_wall_s"]), ", ".join(map(str, s["samples_in_flight"]))]
            for name, s in load["systems"].items()
        ],
    )  # fmt: skip
    return out


def readme_line(r: dict[str, Any]) -> list[str]:
    if "peers" not in r:
        return []
    fast, load = r["peers"]["throughput"], r["peers"]["load"]
    per_s = ", ".join(f"{PEER_NAMES[n]} {s['jobs_per_s']:.1f}" for n, s in fast["systems"].items())
    walls = ", ".join(f"{PEER_NAMES[n]} {s['wall_s']:.1f} s" for n, s in load["systems"].items())
    return [
        f"- Beside arq and dramatiq, one worker process each: jobs/s at 0 ms per call "
        f"({fast['jobs']}×{fast['subtasks']}): {per_s}; wall of {load['jobs']}×"
        f"{load['subtasks']} at {load['latency_ms_per_call'] / 1000:.0f} s per call: {walls}."
    ]
