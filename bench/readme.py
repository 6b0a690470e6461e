"""The README's Performance figures, written by `make bench` itself between two markers, so
the figures a reader sees are the last full run's and name the commit they came from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.peers.report import readme_line as peers_line
from bench.report import Target
from bench.report_caching import readme_lines
from bench.resources import DELTAS_FAMILY
from bench.tables import NAMES, table

NOTE = "(written by `make bench`; edits here are overwritten)"


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name}:start {NOTE} -->", f"<!-- bench:{name}:end -->"


class MarkersMissing(RuntimeError):
    pass


def block(r: dict[str, Any], verdicts: list[Target]) -> str:
    m = r["machine"]
    dirty = " with uncommitted changes" if m["git_dirty"] else ""
    lines = [
        f"From `make bench` at commit `{m['git_commit']}`{dirty}, {m['date'][:10]}, on a shared "
        f"{m['cpu_count']}-core machine (load average {m['loadavg_start'][0]} at the start, "
        f"{m['loadavg_end'][0]} at the end; suite wall {r['wall_s']:.0f} s). Medians; every "
        "ratio is against a baseline measured in the same run; all samples and tables in "
        "[`bench/results/latest.md`](bench/results/latest.md).",
        "",
    ]
    lines += table(
        ["target", "measured", "verdict"],
        [[t.goal, t.measured, "pass" if t.passed else "**miss**"] for t in verdicts],
    )
    return "\n".join(lines + _figures(r)).rstrip() + "\n"


def _figures(r: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if "latency_curve" in r:
        c = r["latency_curve"]["systems"]
        points = r["latency_curve"]["subtasks"]

        def curve(name: str) -> str:
            return " / ".join(f"{s * 1000:.0f}" for s in c[name]["submit_to_final_s"])

        out.append(
            f"- Latency by subtasks per job ({' / '.join(map(str, points))}), submit → seen "
            f"final: Chorus {curve('chorus')} ms, bare chord {curve('bare_chord')} ms."
        )
    if "cost_per_job" in r:
        costs = r["cost_per_job"]["systems"]
        out.append(
            "- Per job at 0 ms per call: "
            + "; ".join(
                f"{NAMES[name]} {c['cpu_ms_per_job_total']:.0f} CPU ms and "
                f"{c['redis_commands_per_job']:.0f} Redis commands"
                for name, c in costs.items()
                if "redis_commands_per_job" in c
            )
            + "."
        )
    if "redis_memory" in r and "chorus" in r["redis_memory"]:
        chorus = r["redis_memory"]["chorus"]
        lingering = chorus["by_family"].get(DELTAS_FAMILY, {}).get("bytes_per_job", 0) / 1000
        mem = chorus["freed_on_delete_per_job_bytes"] / 1000 - lingering
        out.append(
            f"- Redis keeps about {mem:.0f} KB per finished job, and for its first 30 s about "
            f"{lingering:.0f} KB more: the workers' text, as `subtask_delta` streams."
        )
    return out + readme_lines(r) + peers_line(r)


def pools(r: dict[str, Any]) -> str:
    """The worker pools table of "Sizing workers", from the same run."""
    if "pools" not in r:
        return ""
    p = r["pools"]
    rows = [
        [row["pool"], str(row["concurrency"]), f"{row['wall_s']:.2f} s",
         f"{row['worker_peak_rss']['total_mb']:.0f} MB"]
        for row in p["rows"]
    ]  # fmt: skip
    head = (
        f"{p['jobs']} jobs × {p['subtasks']} at {p['latency_ms_per_call']:.0f} ms per call, "
        f"one worker process, commit `{r['machine']['git_commit']}` ({p['note']}):"
    )
    return "\n".join([head, "", *table(["pool", "concurrency", "wall", "worker peak RSS"], rows)])


def update(readme: Path, blocks: dict[str, str]) -> None:
    body = readme.read_text()
    for name, text in blocks.items():
        start, end = _markers(name)
        if start not in body or end not in body:
            raise MarkersMissing(f"{readme} has no {start} … {end} block")
        head, rest = body.split(start, 1)
        _, tail = rest.split(end, 1)
        body = f"{head}{start}\n{text.rstrip()}\n{end}{tail}"
    tmp = readme.with_suffix(".md.tmp")
    tmp.write_text(body)
    tmp.replace(readme)
