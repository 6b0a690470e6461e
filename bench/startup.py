"""How fast the CLI and the package start: `chorus --help`, `chorus --version`,
`chorus status JOB_ID` (one real record in Redis) and `import chorus`, each beside
`python -c pass` measured in the same run, median of N after one warm-up."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from chorus.contract.models import JobRequest
from chorus.core import records
from chorus.settings import Settings
from chorus.store.jobs import JobStore

HELP_TARGET_S = 0.3
STATUS_TARGET_S = 0.6
JOB_ID = "bench-startup-job"


def _median_s(argv: list[str], env: dict[str, str], runs: int) -> float:
    samples = []
    for n in range(runs + 1):
        started = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True, timeout=60)
        if n:  # the first run warms the page cache and the bytecode
            samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def run(redis_url: str, env: dict[str, str], *, runs: int = 5) -> dict[str, Any]:
    settings = Settings(redis_url=redis_url)
    store = JobStore.from_settings(settings)
    now = records.utc_now()
    store.create(
        records.new_record(
            JobRequest(task="a job for chorus status"), JOB_ID, orchestrator_model="o",
            worker_model="w", simulated=True, now=now,
        )
    )  # fmt: skip
    store.close()
    chorus = str(Path(sys.executable).with_name("chorus"))
    env = {**env, "REDIS_URL": redis_url}
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import chorus'": [sys.executable, "-c", "import chorus"],
        "chorus --version": [chorus, "--version"],
        "chorus --help": [chorus, "--help"],
        "chorus status JOB_ID": [chorus, "status", JOB_ID],
    }
    medians = {name: _median_s(argv, env, runs) for name, argv in commands.items()}
    return {"startup": {"runs": runs, "median_s": medians}}


def targets(r: dict[str, Any]) -> list[tuple[str, str, bool]]:
    if "startup" not in r:
        return []
    s = r["startup"]["median_s"]
    base = s["python -c pass"]
    return [
        (
            f"`chorus --help` ≤ {HELP_TARGET_S} s",
            f"{s['chorus --help']:.3f} s (python -c pass {base:.3f} s)",
            s["chorus --help"] <= HELP_TARGET_S,
        ),
        (
            f"`chorus status JOB_ID` ≤ {STATUS_TARGET_S} s",
            f"{s['chorus status JOB_ID']:.3f} s (python -c pass {base:.3f} s)",
            s["chorus status JOB_ID"] <= STATUS_TARGET_S,
        ),
    ]


def markdown(r: dict[str, Any]) -> list[str]:
    if "startup" not in r:
        return []
    s = r["startup"]
    base = s["median_s"]["python -c pass"]
    out = [f"## Start-up (median of {s['runs']} after a warm-up)", ""]
    out.append("| command | wall | over python -c pass |")
    out.append("|---|---|---|")
    for name, seconds in s["median_s"].items():
        out.append(f"| `{name}` | {seconds * 1000:.0f} ms | {(seconds - base) * 1000:+.0f} ms |")
    return [*out, ""]


def main() -> None:
    """`python -m bench.startup`: just these figures, on a private redis-server."""
    import tempfile

    from chorus.devstack.processes import start_redis

    with tempfile.TemporaryDirectory(prefix="chorus-bench-startup-") as workdir:
        proc, url = start_redis(Path(workdir))
        try:
            result = run(url, dict(os.environ))
        finally:
            proc.stop()
    print("\n".join(markdown(result)))
    for goal, measured, passed in targets(result):
        print(f"{'PASS' if passed else 'FAIL'}  {goal}: {measured}")


if __name__ == "__main__":
    main()
