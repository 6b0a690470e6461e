"""From the suite's figures to verdicts and tables: the targets (printed, never asserted)
and the markdown that goes to the console and to latest.md."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench import (
    celery_settings,
    console,
    notebook,
    realistic,
    report_caching,
    report_capacity,
    startup,
    streaming,
    templates,
)
from bench.peers import report as report_peers
from bench.report_load import load_sections
from bench.tables import NAMES, ms, samples_ms, table

BUDGET_OVER_CRITICAL_MS = 150.0


@dataclass(frozen=True)
class Target:
    goal: str
    measured: str
    passed: bool


def targets(r: dict[str, Any]) -> list[Target]:
    rows = startup.targets(r) + templates.targets(r) + notebook.targets(r) + console.targets(r)
    rows += streaming.targets(r) + report_caching.targets(r) + report_peers.targets(r)
    rows += report_capacity.targets(r)
    found = [Target(*row) for row in rows]
    if "latency" in r:
        lat = r["latency"]
        chorus = lat["systems"]["chorus"]
        over = chorus["overhead_over_critical_path_ms"]
        found.append(
            Target(
                f"latency ≤ critical path + {BUDGET_OVER_CRITICAL_MS:.0f} ms",
                f"{chorus['submit_to_final_s'] * 1000:.0f} ms submit → seen final = critical "
                f"path "
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
    if "realistic_latency" in r:
        x = r["realistic_latency"]["systems"]["chorus"]
        over = x["over_critical_path_ms"]
        found.append(
            Target(
                f"realistic profile (p99 = 4 × p50): job ≤ its plan + slowest worker call + "
                f"{BUDGET_OVER_CRITICAL_MS:.0f} ms",
                f"{x['job_s'] * 1000:.0f} ms = {x['critical_path_s'] * 1000:.0f} ms + "
                f"{over:.0f} ms (slowest worker call {x['slowest_worker_s'] * 1000:.0f} ms, "
                f"median call {x['median_worker_s'] * 1000:.0f} ms)",
                over <= BUDGET_OVER_CRITICAL_MS,
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
        calls = shape["jobs"] * shape["subtasks"]
        found.append(
            Target(
                f"{calls} worker calls in flight at once (simulator's count, median)",
                f"{threads['in_flight']:.0f} (samples "
                f"{', '.join(str(n) for n in threads['samples_in_flight'])})",
                threads["in_flight"] >= calls,
            )
        )
        rss = threads["worker_peak_rss"]["total_mb"]
        found.append(
            Target(
                f"worker peak RSS ≤ 250 MB (threads pool, {calls} calls)",
                f"{rss:.0f} MB",
                rss <= 250,
            )
        )
    return found


def _threads_row(r: dict[str, Any]) -> dict[str, Any] | None:
    if "inflight" in r:
        row: dict[str, Any] = r["inflight"]["systems"]["chorus"]
        return row
    rows = r.get("pools", {}).get("rows", [])
    return next((row for row in rows if row["pool"] == "threads"), None)


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
    out += table(
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
            f"Plan call {ms(lat['plan_call_s'])}, worker call {ms(lat['worker_call_s'])}, "
            f"critical path {ms(lat['critical_path_s'])}, sequential loop "
            f"{ms(lat['sequential_s'])}.",
            "",
        ]
        rows = [
            [
                NAMES[name],
                ms(s["submit_to_final_s"]),
                f"{s['overhead_over_critical_path_ms']:+.0f} ms",
                f"{s['ratio_to_critical_path']:.2f}",
                f"{s['speedup_vs_sequential']:.2f}×",
                ms(s["in_system_s"]),
                samples_ms(s["samples_submit_to_final_s"]),
            ]
            for name, s in lat["systems"].items()
        ]
        out += [
            "Every system on the client's clock (job sent → seen final, the sequential loop "
            "included); each system's own in-system figure beside it (Chorus: the record's "
            "created → finished).",
            "",
        ]
        out += table(
            ["system", "submit → seen final", "over critical path", "÷ critical path",
             "× vs sequential", "in system", "samples (submit → seen final)"],
            rows,
        )  # fmt: skip
    if "latency_curve" in r:
        c = r["latency_curve"]
        out += [
            f"## Latency vs subtasks per job (submit → seen final, median of {c['runs']})",
            "",
        ]
        names = list(c["systems"])
        out += table(
            ["subtasks", *(NAMES[n] for n in names)],
            [
                [str(n), *(ms(c["systems"][name]["submit_to_final_s"][i]) for name in names)]
                for i, n in enumerate(c["subtasks"])
            ],
        )
    out += realistic.markdown(r) + report_caching.markdown(r)
    out += celery_settings.markdown(r) + load_sections(r) + report_peers.markdown(r)
    out += report_capacity.markdown(r)
    return "\n".join(out)
