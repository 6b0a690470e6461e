"""From bench/capacity.py's samples to its figures and the report's capacity section: per job
and per subtask Redis costs, the jobs/s one Redis carries at 80% of a core, and the memory
1,000 finished jobs keep."""

from __future__ import annotations

import statistics
from typing import Any

from bench.tables import table

CLIENT_SHARE_LIMIT = 0.01
CORE_BUDGET_MS = 800.0  # 80% of one core, per second: Redis runs commands on one thread
LABELS = {
    "commands": "Redis commands",
    "socket_reads": "Redis socket reads (≈ round trips)",
    "redis_cpu_ms": "Redis CPU ms (main thread)",
    "redis_process_cpu_ms": "Redis CPU ms (process, 10 ms ticks)",
    "net_in_bytes": "bytes into Redis",
    "net_out_bytes": "bytes out of Redis",
    "orchestrator_cpu_ms": "orchestrator CPU ms",
    "worker_cpu_ms": "worker CPU ms",
}

FITTED = tuple(LABELS)


def fit(xs: list[int], ys: list[float]) -> dict[str, float]:
    """cost = per_job + per_subtask × subtasks, by least squares."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    return {"per_job": round(my - slope * mx, 2), "per_subtask": round(slope, 3)}


def summarise(
    samples: dict[int, list[dict[str, Any]]],
    idle: dict[str, float],
    memory: dict[str, Any],
    jobs: int,
    latency_ms: float,
) -> dict[str, Any]:
    """Medians of each point's samples, the per job and per subtask line through them, and
    the jobs/s one Redis carries at 80% of a core."""
    points = []
    for subtasks, found in samples.items():
        median = {key: round(statistics.median(s[key] for s in found), 2) for key in FITTED}
        points.append(
            {
                "subtasks": subtasks,
                "median": {**median, "wall_s": statistics.median(s["wall_s"] for s in found)},
                "samples": {key: [round(s[key], 2) for s in found] for key in (*FITTED, "wall_s")},
                "client_share": [round(s["client_share"], 4) for s in found],
                "client_commands": [s["client_commands"] for s in found],
                "client_submit_commands": [s["client_submit_commands"] for s in found],
                "top_commands_per_job": found[0]["top_commands_per_job"],
                "job": found[0]["job"],
            }
        )
    xs = [p["subtasks"] for p in points]
    fits = {key: fit(xs, [p["median"][key] for p in points]) for key in FITTED}
    by_n = {p["subtasks"]: p for p in points}
    return {
        "latency_ms_per_call": latency_ms,
        "jobs": jobs,
        "repeats": len(next(iter(samples.values()))),
        "idle": idle,
        "points": points,
        "fit": fits,
        "jobs_per_s_at_80pct_core": {
            str(n): round(CORE_BUDGET_MS / by_n[n]["median"]["redis_cpu_ms"], 1)
            for n in (5, 10)
            if n in by_n
        },
        "client_share_max": max(s for p in points for s in p["client_share"]),
        "memory": memory,
    }


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool]]:
    if "capacity" not in r:
        return []
    share = r["capacity"]["client_share_max"]
    return [
        (
            f"capacity: the bench client's waiting < {CLIENT_SHARE_LIMIT:.0%} of Redis's "
            "commands (every batch)",
            f"{share:.2%} at most",
            share < CLIENT_SHARE_LIMIT,
        )
    ]


def _n(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


def markdown(r: dict[str, Any]) -> list[str]:
    if "capacity" not in r:
        return []
    c = r["capacity"]
    points = c["points"]
    out = [
        f"## Capacity: what a job costs Redis ({c['jobs']} jobs per batch at "
        f"{c['latency_ms_per_call']:.0f} ms per call, median of {c['repeats']}, default stack)",
        "",
        "Commands count every command Redis ran, those inside Lua scripts and MULTI blocks "
        "one by one; socket reads are Redis's `total_reads_processed` (about one per client "
        "round trip). Per job (fixed) and per subtask: a least-squares line through the "
        "medians at " + ", ".join(str(p["subtasks"]) for p in points) + " subtasks.",
        "",
    ]
    out += table(
        ["per job, by subtasks", *(str(p["subtasks"]) for p in points), "fixed", "per subtask"],
        [
            [LABELS[key], *(_n(p["median"][key]) for p in points),
             _n(c["fit"][key]["per_job"]), _n(c["fit"][key]["per_subtask"])]
            for key in LABELS
        ],
    )  # fmt: skip
    per_s = c["jobs_per_s_at_80pct_core"]
    submit = points[0]["client_submit_commands"][0] / c["jobs"]
    idle = c["idle"]
    out += [
        "One Redis at 80% of one core: "
        + ", ".join(f"{v:,.0f} jobs/s at {n} subtasks" for n, v in per_s.items())
        + f" (800 ms ÷ Redis main-thread CPU ms per job). Idle stack: "
        f"{idle['commands_per_s']:.0f} commands/s, {idle['redis_cpu_ms_per_s']:.1f} Redis CPU "
        f"ms/s. Submitting costs {submit:g} commands per job, counted in the job's (LPUSH, the "
        "task-sent event, Celery's result SUBSCRIBE and UNSUBSCRIBE).",
        "",
        "Samples:",
        "",
    ]
    out += table(
        ["subtasks", "wall", "commands / job", "Redis CPU ms / job", "bytes in / out per job",
         "client's commands (of them submitting); waiting's share"],
        [
            [str(p["subtasks"]), ", ".join(f"{w:.1f}" for w in p["samples"]["wall_s"]) + " s",
             ", ".join(_n(v) for v in p["samples"]["commands"]),
             ", ".join(f"{v:.2f}" for v in p["samples"]["redis_cpu_ms"]),
             "; ".join(f"{_n(i)} / {_n(o)}" for i, o in zip(
                 p["samples"]["net_in_bytes"], p["samples"]["net_out_bytes"], strict=True)),
             "; ".join(f"{n} ({s}) {x:.2%}" for n, s, x in zip(
                 p["client_commands"], p["client_submit_commands"], p["client_share"],
                 strict=True))]
            for p in points
        ],
    )  # fmt: skip
    out += ["Top commands per job (first sample):", ""]
    for p in points:
        top = ", ".join(f"{name} {n:g}" for name, n in p["top_commands_per_job"].items())
        job = p["job"]
        out += [
            f"- {p['subtasks']} subtasks: {top}. One job: {job['model_calls']} model calls, "
            f"{job['input_tokens']:,} input and {job['output_tokens']:,} output tokens "
            "(the simulator's).",
        ]
    m = c["memory"]
    mb = m["per_1000_jobs_mb"]
    out += [
        "",
        f"Memory 1,000 finished {m['subtasks']}-subtask jobs keep (used_memory freed by "
        f"deleting a batch of {m['jobs']}, by key family below): {mb['first_30_s']} MB for "
        f"their first 30 s, {mb['to_1_day']} MB to a day (Celery's results expire), "
        f"{mb['to_job_ttl']} MB for the rest of the job TTL; the job index adds "
        f"{m['index_bytes_per_job']} B per job (its sorted set's MEMORY USAGE ÷ entries). "
        "Broker at the batch's peak: "
        + "; ".join(
            f"{what} {b['peak']} messages, {b['bytes_per_message']:,} B each"
            for what, b in m["broker"].items()
        )
        + ".",
        "",
    ]
    out += table(
        ["key family", "keys", "bytes per job"],
        [[name, str(f["keys"]), f"{f['bytes_per_job']:,}"] for name, f in m["by_family"].items()],
    )
    return out
