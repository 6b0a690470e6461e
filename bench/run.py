"""`make bench`: the whole suite in one run, against the simulator and one private Redis.

    python -m bench.run [--suite all|core|pools|startup] [--runs 7] [--jobs 100]

startup (also in all and core): `chorus --help`, `chorus status`, `import chorus` beside
`python -c pass`, what prompt templates and typed outputs cost per subtask, and the
notebook-style `chorus.Orchestrator(...).process` on an embedded stack. core:
single-job latency and the subtasks curve (200 ms per call), throughput and the jobs curve
and Redis memory per job (0 ms), in-flight capacity and worker RSS (1 s); for the sequential
loop, in-process asyncio, a bare Celery chord and Chorus. pools: Chorus's worker pools at 200
calls in flight, and Chorus throughput with 1, 2 and 4 worker processes. Writes
bench/results/latest.{json,md,png} and prints the tables with PASS/FAIL targets.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import inflight, latency, notebook, report, startup, templates, throughput
from bench.infra import REPO_ROOT, Infra
from bench.plot import plot

RESULTS = Path(__file__).resolve().parent / "results"
STARTUP_DB = 13  # the one record `chorus status` reads


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip()


def machine(load_start: tuple[float, ...]) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        # Figures depend on the code as it was, which may differ from the commit.
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
    }


def _progress(started: float, what: str) -> None:
    print(f"[{time.perf_counter() - started:5.0f} s] {what}", flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=["all", "core", "pools", "startup"], default="all")
    parser.add_argument("--runs", type=int, default=7, help="single-job runs per system")
    parser.add_argument("--curve-runs", type=int, default=5, help="runs per subtasks point")
    parser.add_argument("--subtasks", type=int, default=5)
    parser.add_argument("--curve", default="1,5,10,20", help="subtasks per job")
    parser.add_argument("--jobs", type=int, default=100, help="throughput batch")
    parser.add_argument("--repeats", type=int, default=3, help="throughput batches per system")
    parser.add_argument("--jobs-curve", default="1,10,50,200")
    parser.add_argument("--inflight-jobs", type=int, default=40)
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args()


def _run_load(
    infra: Infra,
    args: argparse.Namespace,
    *,
    core: bool,
    pools: bool,
    results: dict[str, Any],
    started: float,
) -> None:
    _progress(started, "throughput (0 ms per call) ...")
    results |= throughput.run(
        infra,
        core=core,
        pools=pools,
        jobs=args.jobs,
        subtasks=args.subtasks,
        repeats=args.repeats,
        curve=[int(n) for n in args.jobs_curve.split(",")],
        worker_counts=[1, 2, 4],
    )
    _progress(started, "in flight and worker pools (1 s per call) ...")
    results |= inflight.run(
        infra,
        core=core,
        pools=pools,
        jobs=args.inflight_jobs,
        subtasks=args.subtasks,
        repeats=2,
    )


def main() -> None:
    args = parse_args()
    core, pools = args.suite in ("all", "core"), args.suite in ("all", "pools")
    started, load_start = time.perf_counter(), os.getloadavg()
    latencies = [0.0, inflight.LATENCY_MS] if core or pools else []
    latencies += [latency.LATENCY_MS] if core else []
    results: dict[str, Any] = {"suite": args.suite}
    with Infra(latencies) as infra:
        if args.suite in ("all", "core", "startup"):
            _progress(started, "CLI and import start-up ...")
            results |= startup.run(infra.redis_url(STARTUP_DB), infra.env())
            results |= templates.run()
            _progress(started, "Orchestrator(...).process on an embedded stack ...")
            results |= notebook.run()
        if core:
            infra.start_bare()
            _progress(started, "single-job latency and the subtasks curve (200 ms per call) ...")
            results |= latency.run(
                infra,
                subtasks=args.subtasks,
                runs=args.runs,
                curve=[int(n) for n in args.curve.split(",")],
                curve_runs=args.curve_runs,
            )
        if core or pools:
            _run_load(infra, args, core=core, pools=pools, results=results, started=started)
    results["wall_s"] = round(time.perf_counter() - started, 1)
    results["machine"] = machine(load_start)
    verdicts = report.targets(results)
    results["targets"] = [dataclasses.asdict(t) for t in verdicts]
    text = report.markdown(results, verdicts)

    args.out.mkdir(parents=True, exist_ok=True)
    for name, body in (("latest.json", json.dumps(results, indent=2) + "\n"), ("latest.md", text)):
        tmp = args.out / (name + ".tmp")
        tmp.write_text(body)
        tmp.replace(args.out / name)  # a reader never sees half a file
    drawn = plot(results, args.out / "latest.png")
    print()
    print(text)
    print(f"written: {args.out}/latest.json, latest.md{', latest.png' if drawn else ''}")


if __name__ == "__main__":
    main()
