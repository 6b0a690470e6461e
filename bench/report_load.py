"""The report's sections for the load runs: throughput, jobs curve, CPU and Redis per job,
Redis memory, in flight, worker pools and worker processes."""

from __future__ import annotations

from typing import Any

from bench.tables import NAMES, rss, samples_s, table


def load_sections(r: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if "throughput" in r:
        t = r["throughput"]
        out += [
            f"## Throughput: {t['jobs']} jobs × {t['subtasks']} subtasks at once, 0 ms per "
            f"call (median of {t['repeats']}; sequential once)",
            "",
        ]
        out += table(
            ["system", "wall", "jobs/s", "subtasks/s", "÷ bare chord", "samples (wall)"],
            [
                [NAMES[name], f"{s['wall_s']:.2f} s", f"{s['jobs_per_s']:.1f}",
                 f"{s['subtasks_per_s']:.0f}", f"{s['ratio_to_bare_chord']:.2f}",
                 samples_s(s["samples_wall_s"])]
                for name, s in t["systems"].items()
            ],
        )  # fmt: skip
    if "jobs_curve" in r:
        c = r["jobs_curve"]
        names = list(c["systems"])
        out += ["## Wall and jobs/s vs jobs in the batch (0 ms per call)", ""]
        out += table(
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
        out += table(
            ["system", "CPU ms per job, by process", "total", "Redis commands / job"],
            [
                [NAMES[name], ", ".join(f"{k} {v:.1f}" for k, v in s["cpu_ms_per_job"].items()),
                 f"{s['cpu_ms_per_job_total']:.1f}", f"{s['redis_commands_per_job']:.0f}"]
                for name, s in c["systems"].items()
            ],
        )  # fmt: skip
    out += inflight_sections(r)
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
        out += table(["system", "what", "bytes per job"], rows)
    return out


def inflight_sections(r: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if "inflight" in r:
        f = r["inflight"]
        out += [
            f"## In flight: {f['jobs']} jobs × {f['subtasks']} at {f['latency_ms_per_call']:.0f} "
            f"ms per call, one worker process ({f['worker_concurrency']} threads), one "
            f"orchestrator ({f['orchestrator_concurrency']} threads)",
            "",
        ]
        out += [
            "Calls in flight: the most worker-model calls the simulator held at once, per batch "
            "(its own count, not inferred from wall time).",
            "",
        ]
        out += table(
            ["system", "wall", "worker calls in flight", "worker peak RSS (VmHWM)",
             "samples (wall; in flight)"],
            [
                [NAMES[name], f"{s['wall_s']:.2f} s", f"{s['in_flight']:.0f}",
                 rss(s["worker_peak_rss"]) if "worker_peak_rss" in s else "-",
                 f"{samples_s(s['samples_wall_s'])}; "
                 + ", ".join(str(n) for n in s["samples_in_flight"])]
                for name, s in f["systems"].items()
            ],
        )  # fmt: skip
    if "pools" in r:
        p = r["pools"]
        out += [f"## Chorus worker pools, {p['jobs']}×{p['subtasks']} at 1 s ({p['note']})", ""]
        out += table(
            ["pool", "concurrency", "wall", "worker peak RSS (main + children)"],
            [
                [row["pool"], str(row["concurrency"]), f"{row['wall_s']:.2f} s",
                 rss(row["worker_peak_rss"])]
                for row in p["rows"]
            ],
        )  # fmt: skip
    if "chorus_worker_processes" in r:
        w = r["chorus_worker_processes"]
        out += [f"## Chorus throughput vs worker processes ({w['jobs']}×{w['subtasks']}, 0 ms)", ""]
        out += table(
            ["worker processes", "wall", "jobs/s", "subtasks/s"],
            [
                [str(p["workers"]), f"{p['wall_s']:.2f} s", f"{p['jobs_per_s']:.1f}",
                 f"{p['subtasks_per_s']:.0f}"]
                for p in w["points"]
            ],
        )  # fmt: skip
    return out
