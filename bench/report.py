"""From the suite's figures to verdicts and tables: the targets (printed, never asserted)
and the markdown that goes to the console and to latest.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench import notebook, startup, templates

NAMES = {
    "sequential": "sequential loop",
    "asyncio": "in-process asyncio",
    "bare_chord": "bare Celery chord",
    "chorus": "Chorus",
}
BUDGET_OVER_CRITICAL_MS = 150.0


@dataclass(frozen=True)
class Target:
    goal: str
    measured: str
    passed: bool


def targets(r: dict[str, Any]) -> list[Target]:
    rows = startup.targets(r) + templates.targets(r) + notebook.targets(r)
    found = [Target(*row) for row in rows]
    if "latency" in r:
        lat = r["latency"]
        chorus = lat["systems"]["chorus"]
        over = chorus["overhead_over_critical_path_ms"]
        found.append(
            Target(
                f"latency ≤ critical path + {BUDGET_OVER_CRITICAL_MS:.0f} ms",
                f"{chorus['in_system_s'] * 1000:.0f} ms = critical path "
                f"{lat['critical_path_s'] * 1000:.0f} ms + {over:.0f} ms "
                f"(ratio {chorus['ratio_to_critical_path']:.2f})",
                over <= BUDGET_OVER_CRITICAL_MS,
            )
        )
        speedup = chorus["speedup_vs_sequential"]
        found.append(
            Target(
                f"≥ 2.5× faster than sequential at {lat['subtasks']} subtasks",
                f"{speedup:.2f}×",
                speedup >= 2.5,
            )
        )
    if "throughput" in r:
        ratio = r["throughput"]["systems"]["chorus"]["ratio_to_bare_chord"]
        found.append(
            Target("throughput ≥ 80% of the bare chord", f"{ratio * 100:.0f}%", ratio >= 0.8)
        )
    threads = _threads_row(r)
    shape = r.get("inflight") or r.get("pools") or {}
    if threads is not None:
        found.append(
            Target(
                f"{shape['jobs']}×{shape['subtasks']} at 1 s in < 5 s on one worker process",
                f"{threads['wall_s']:.2f} s",
                threads["wall_s"] < 5.0,
            )
        )
        rss = threads["worker_peak_rss"]["total_mb"]
        found.append(Target("worker peak RSS ≤ 250 MB (threads, 200)", f"{rss:.0f} MB", rss <= 250))
    return found


def _threads_row(r: dict[str, Any]) -> dict[str, Any] | None:
    if "inflight" in r:
        row: dict[str, Any] = r["inflight"]["systems"]["chorus"]
        return row
    rows = r.get("pools", {}).get("rows", [])
    return next((row for row in rows if row["pool"] == "threads"), None)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows] + [""]


def _rss(rss: dict[str, Any]) -> str:
    if not rss["children"]:
        return f"{rss['total_mb']:.0f} MB"
    each = rss["children_mb"] / rss["children"]
    return (
        f"{rss['total_mb']:.0f} MB ({rss['main_mb']:.0f} + {rss['children']} × {each:.0f}; "
        f"PSS now {rss['pss_now_mb']:.0f} MB)"
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def markdown(r: dict[str, Any], verdicts: list[Target]) -> str:
    m = r["machine"]
    out = [
        "# Chorus benchmark",
        "",
        f"{m['date']} · {m['cpu_count']} CPUs · Python {m['python']} · load average "
        f"{m['loadavg_start']} → {m['loadavg_end']} · commit {m['git_commit']}"
        f"{' (uncommitted changes)' if m['git_dirty'] else ''} · suite wall {r['wall_s']:.0f} s",
        "",
        "## Targets",
        "",
    ]
    out += _table(
        ["target", "measured", "verdict"],
        [[t.goal, t.measured, "PASS" if t.passed else "FAIL"] for t in verdicts],
    )
    out += startup.markdown(r) + templates.markdown(r)
    if "latency" in r:
        lat = r["latency"]
        out += [
            f"## Single job: {lat['latency_ms_per_call']:.0f} ms per call, {lat['subtasks']} "
            f"subtasks, median of {lat['runs']}",
            "",
            f"Plan call {_ms(lat['plan_call_s'])}, worker call {_ms(lat['worker_call_s'])}, "
            f"critical path {_ms(lat['critical_path_s'])}, sequential loop "
            f"{_ms(lat['sequential_s'])}.",
            "",
        ]
        rows = [
            [
                NAMES[name],
                _ms(s["in_system_s"]),
                _ms(s["submit_to_final_s"]),
                f"{s['overhead_over_critical_path_ms']:+.0f} ms",
                f"{s['ratio_to_critical_path']:.2f}",
                f"{s['speedup_vs_sequential']:.2f}×",
            ]
            for name, s in lat["systems"].items()
        ]
        out += _table(
            ["system", "job (in system)", "submit → seen final", "over critical path",
             "÷ critical path", "× vs sequential"],
            rows,
        )  # fmt: skip
    if "latency_curve" in r:
        c = r["latency_curve"]
        out += [f"## Latency vs subtasks per job (in system, median of {c['runs']})", ""]
        names = list(c["systems"])
        out += _table(
            ["subtasks", *(NAMES[n] for n in names)],
            [
                [str(n), *(_ms(c["systems"][name]["in_system_s"][i]) for name in names)]
                for i, n in enumerate(c["subtasks"])
            ],
        )
    if "throughput" in r:
        t = r["throughput"]
        out += [
            f"## Throughput: {t['jobs']} jobs × {t['subtasks']} subtasks at once, 0 ms per "
            f"call (median of {t['repeats']}; sequential once)",
            "",
        ]
        out += _table(
            ["system", "wall", "jobs/s", "subtasks/s", "÷ bare chord"],
            [
                [NAMES[name], f"{s['wall_s']:.2f} s", f"{s['jobs_per_s']:.1f}",
                 f"{s['subtasks_per_s']:.0f}", f"{s['ratio_to_bare_chord']:.2f}"]
                for name, s in t["systems"].items()
            ],
        )  # fmt: skip
    if "jobs_curve" in r:
        c = r["jobs_curve"]
        names = list(c["systems"])
        out += ["## Wall and jobs/s vs jobs in the batch (0 ms per call)", ""]
        out += _table(
            ["jobs", *(NAMES[n] for n in names)],
            [
                [str(n), *(f"{c['systems'][name]['wall_s'][i]:.2f} s "
                           f"({c['systems'][name]['jobs_per_s'][i]:.1f}/s)" for name in names)]
                for i, n in enumerate(c["jobs"])
            ],
        )  # fmt: skip
    if "cost_per_job" in r:
        c = r["cost_per_job"]
        out += [
            f"## Where the time goes at 0 ms: CPU and Redis commands per job "
            f"(first {c['jobs']}×{c['subtasks']} batch; 2 cores = 2000 CPU ms per second)",
            "",
        ]
        out += _table(
            ["system", "CPU ms per job, by process", "total", "Redis commands / job"],
            [
                [NAMES[name], ", ".join(f"{k} {v:.1f}" for k, v in s["cpu_ms_per_job"].items()),
                 f"{s['cpu_ms_per_job_total']:.1f}", f"{s['redis_commands_per_job']:.0f}"]
                for name, s in c["systems"].items()
            ],
        )  # fmt: skip
    out += _inflight_sections(r)
    retries = {
        "200 ms": r.get("latency", {}).get("model_call_retries"),
        "0 ms": r.get("model_call_retries_at_0ms"),
        "1 s": r.get("model_call_retries_at_1s"),
    }
    found = [f"{phase}: {counts}" for phase, counts in retries.items() if isinstance(counts, dict)]
    if found:
        out += ["Model calls retried (each costs the job time): " + "; ".join(found), ""]
    if "redis_memory" in r:
        out += [
            "## Redis memory a finished job keeps (first 0 ms batch, 5 subtasks)",
            "",
            "used_memory growth also moves with client buffers; the delete figure is the quiet "
            "one. MEMORY USAGE rows are per key family.",
            "",
        ]
        rows = []
        for name, mem in r["redis_memory"].items():
            rows.append(
                [NAMES[name], "used_memory delta / job", f"{mem['used_memory_per_job_bytes']:,} B"]
            )
            rows.append(
                ["", "used_memory_dataset delta / job",
                 f"{mem['used_memory_dataset_per_job_bytes']:,} B"]
            )  # fmt: skip
            rows.append(
                ["", "used_memory freed by deleting the batch's keys / job",
                 f"{mem['freed_on_delete_per_job_bytes']:,} B"]
            )  # fmt: skip
            for fam, f in mem["by_family"].items():
                rows.append(
                    ["", f"MEMORY USAGE {fam}: {f['keys']} keys", f"{f['bytes_per_job']:,} B"]
                )
        out += _table(["system", "what", "bytes per job"], rows)
    return "\n".join(out)


def _inflight_sections(r: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if "inflight" in r:
        f = r["inflight"]
        out += [
            f"## In flight: {f['jobs']} jobs × {f['subtasks']} at {f['latency_ms_per_call']:.0f} "
            f"ms per call, one worker process ({f['worker_concurrency']} threads), one "
            f"orchestrator ({f['orchestrator_concurrency']} threads)",
            "",
        ]
        out += _table(
            ["system", "wall", "worker peak RSS (VmHWM)"],
            [
                [NAMES[name], f"{s['wall_s']:.2f} s",
                 _rss(s["worker_peak_rss"]) if "worker_peak_rss" in s else "-"]
                for name, s in f["systems"].items()
            ],
        )  # fmt: skip
    if "pools" in r:
        p = r["pools"]
        out += [f"## Chorus worker pools, {p['jobs']}×{p['subtasks']} at 1 s ({p['note']})", ""]
        out += _table(
            ["pool", "concurrency", "wall", "worker peak RSS (main + children)"],
            [
                [row["pool"], str(row["concurrency"]), f"{row['wall_s']:.2f} s",
                 _rss(row["worker_peak_rss"])]
                for row in p["rows"]
            ],
        )  # fmt: skip
    if "chorus_worker_processes" in r:
        w = r["chorus_worker_processes"]
        out += [f"## Chorus throughput vs worker processes ({w['jobs']}×{w['subtasks']}, 0 ms)", ""]
        out += _table(
            ["worker processes", "wall", "jobs/s", "subtasks/s"],
            [
                [str(p["workers"]), f"{p['wall_s']:.2f} s", f"{p['jobs_per_s']:.1f}",
                 f"{p['subtasks_per_s']:.0f}"]
                for p in w["points"]
            ],
        )  # fmt: skip
    return out
