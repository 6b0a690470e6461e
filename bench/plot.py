"""latest.png: latency vs subtasks per job and throughput vs jobs in a batch, one line per
system."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on a build box; must precede pyplot

import matplotlib.pyplot as plt

from bench.tables import NAMES

# One colour and marker per system, the same in both panels.
STYLE = {
    "chorus": ("o-", "tab:blue"),
    "bare_chord": ("s--", "tab:orange"),
    "asyncio": ("^:", "tab:green"),
    "sequential": ("x-.", "tab:red"),
}


def plot(r: dict[str, Any], path: Path) -> bool:
    """Draws what the run measured; False when it measured neither curve."""
    if "latency_curve" not in r and "jobs_curve" not in r:
        return False
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    if "latency_curve" in r:
        c = r["latency_curve"]
        for name, s in c["systems"].items():
            ms = [v * 1000 for v in s["submit_to_final_s"]]
            fmt, colour = STYLE[name]
            left.plot(c["subtasks"], ms, fmt, color=colour, label=NAMES[name])
        if "latency" in r:
            critical = r["latency"]["critical_path_s"] * 1000
            left.axhline(critical, color="grey", lw=0.8, label="critical path (plan + 1 call)")
        left.set_title(f"Job latency at {c['latency_ms_per_call']:.0f} ms per call")
        left.set_xlabel("subtasks per job")
        left.set_ylabel("median submit → seen final, ms")
        left.set_xticks(c["subtasks"])
        left.legend()
    if "jobs_curve" in r:
        c = r["jobs_curve"]
        for name, s in c["systems"].items():
            fmt, colour = STYLE[name]
            right.plot(c["jobs"], s["jobs_per_s"], fmt, color=colour, label=NAMES[name])
        right.set_xscale("log")
        right.set_xticks(c["jobs"], [str(n) for n in c["jobs"]])
        right.set_title(f"Throughput at 0 ms per call, {c['subtasks']} subtasks per job")
        right.set_xlabel("jobs submitted at once")
        right.set_ylabel("jobs/s (batch ÷ wall)")
        right.set_ylim(bottom=0)
        right.legend()
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
