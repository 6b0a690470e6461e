"""`make bench`: the whole suite in one run, against the simulator and one private Redis.

    python -m bench.run [--suite all|core|pools|startup|caching|peers|capacity] [--runs 7]
        [--jobs 100]

startup (also in all and core): `chorus --help`, `chorus status`, `import chorus` beside
`python -c pass`, what prompt templates and typed outputs cost per subtask, and the
notebook-style `chorus.Orchestrator(...).process` on an embedded stack, and the console's
jobs page with 10,000 jobs in Redis and a 20-subtask job's page, at the server. core:
single-job latency and the subtasks curve (200 ms per call), throughput and the jobs curve
and Redis memory per job (0 ms), in-flight capacity and worker RSS (1 s), what streaming the
workers' text costs (deltas on and off) and how soon it reaches an SSE client, for the
sequential loop, in-process asyncio, a bare Celery chord and Chorus; then what caching the
shared block saves and costs in time, and what batch mode saves (caching: these alone).
pools: Chorus's worker pools at 200 calls in flight, and Chorus throughput with 1, 2 and 4
worker processes. peers (also in all): Chorus beside arq and dramatiq, 100 jobs at 0 ms and
200 jobs at 5 s per call (bench/peers). capacity (also in all, last): Redis commands, bytes
and CPU per job and per subtask, jobs/s one Redis carries and memory per 1,000 finished jobs
(bench/capacity.py, docs/scaling.md). Writes
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

from bench import (
    batching,
    caching,
    capacity,
    celery_settings,
    console,
    inflight,
    latency,
    notebook,
    readme,
    realistic,
    report,
    startup,
    streaming,
    templates,
    throughput,
)
from bench.infra import BARE_DB, REPO_ROOT, Infra
from bench.peers import suite as peer_suite
from bench.plot import plot

RESULTS = Path(__file__).resolve().parent / "results"
STARTUP_DB = 13  # the one record `chorus status` reads
CONSOLE_DB = 6  # 10,000 jobs of one tenant, flushed after


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
    parser.add_argument(
        "--suite",
        choices=["all", "core", "pools", "startup", "caching", "peers", "capacity"],
        default="all",
    )
    parser.add_argument("--peer-load-jobs", type=int, default=200, help="peers at 5 s per call")
    parser.add_argument("--runs", type=int, default=7, help="single-job runs per system")
    parser.add_argument("--curve-runs", type=int, default=5, help="runs per subtasks point")
    parser.add_argument("--realistic-runs", type=int, default=9, help="jobs per system")
    parser.add_argument("--subtasks", type=int, default=5)
    parser.add_argument("--curve", default="1,5,10,20", help="subtasks per job")
    parser.add_argument("--jobs", type=int, default=100, help="throughput batch")
    parser.add_argument("--repeats", type=int, default=3, help="throughput batches per system")
    parser.add_argument("--jobs-curve", default="1,10,50,200")
    parser.add_argument("--inflight-jobs", type=int, default=40)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--no-readme",
        dest="readme",
        action="store_false",
        help="leave the README's Performance figures as they are",
    )
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
        repeats=args.repeats,
    )


def _run_caching(
    infra: Infra, args: argparse.Namespace, *, results: dict[str, Any], started: float
) -> None:
    _progress(started, "caching: the shared block cached and not, one model and two ...")
    results |= caching.run(infra, runs=args.runs)
    _progress(started, f"batch mode: {args.jobs} jobs normal and batched ...")
    results |= batching.run(infra, jobs=args.jobs, subtasks=args.subtasks)


def main() -> None:
    args = parse_args()
    core, pools = args.suite in ("all", "core"), args.suite in ("all", "pools")
    started, load_start = time.perf_counter(), os.getloadavg()
    latencies = [0.0, inflight.LATENCY_MS] if core or pools else []
    latencies += [batching.LATENCY_MS] if args.suite == "caching" else []
    latencies += [peer_suite.FAST_MS] if args.suite == "peers" else []
    latencies += [capacity.LATENCY_MS] if args.suite == "capacity" else []
    latencies += [latency.LATENCY_MS] if core else []
    results: dict[str, Any] = {"suite": args.suite}
    with Infra(latencies) as infra:
        if args.suite in ("all", "core", "startup"):
            _progress(started, "CLI and import start-up ...")
            results |= startup.run(infra.redis_url(STARTUP_DB), infra.env())
            results |= templates.run()
            _progress(started, "Orchestrator(...).process on an embedded stack ...")
            results |= notebook.run()
            _progress(started, "the console's pages with 10,000 jobs in Redis ...")
            results |= console.run(infra.redis_url(CONSOLE_DB))
        if core:
            results |= celery_settings.run(infra.redis_url(BARE_DB))
            infra.start_bare()
            _progress(started, "single-job latency and the subtasks curve (200 ms per call) ...")
            results |= latency.run(
                infra,
                subtasks=args.subtasks,
                runs=args.runs,
                curve=[int(n) for n in args.curve.split(",")],
                curve_runs=args.curve_runs,
            )
            _progress(started, "single-job latency on the realistic simulator profile ...")
            results |= realistic.run(infra, subtasks=args.subtasks, runs=args.realistic_runs)
            _progress(started, "streaming: deltas on and off, first delta at an SSE client ...")
            results |= streaming.run(
                infra, subtasks=args.subtasks, runs=args.runs, jobs=args.jobs, repeats=args.repeats
            )
        if core or args.suite == "caching":
            _run_caching(infra, args, results=results, started=started)
        if core or pools:
            _run_load(infra, args, core=core, pools=pools, results=results, started=started)
        if args.suite in ("all", "peers"):
            _progress(started, "peers: arq and dramatiq beside Chorus (0 ms, then 5 s) ...")
            results |= peer_suite.run(
                infra,
                jobs=args.jobs,
                load_jobs=args.peer_load_jobs,
                subtasks=args.subtasks,
                repeats=args.repeats,
            )
        if args.suite in ("all", "capacity"):
            _progress(started, "capacity: Redis commands, bytes and CPU per job and subtask ...")
            results |= capacity.run(infra, jobs=args.jobs, repeats=args.repeats)
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
    if args.suite == "all" and args.readme:
        # Only a full run's figures replace the README's: a partial run would leave rows out.
        blocks = {"performance": readme.block(results, verdicts), "pools": readme.pools(results)}
        readme.update(REPO_ROOT / "README.md", blocks)
    print()
    print(text)
    print(f"written: {args.out}/latest.json, latest.md{', latest.png' if drawn else ''}")


if __name__ == "__main__":
    main()
