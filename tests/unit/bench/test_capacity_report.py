"""The capacity section's arithmetic: the per job / per subtask line and jobs per second at
80% of one Redis core come from the medians of every batch, never from one sample."""

from __future__ import annotations

from typing import Any

import pytest

from bench import report_capacity
from bench.report_capacity import FITTED, fit, summarise


def test_a_straight_line_is_fitted_exactly() -> None:
    assert fit([1, 5, 10], [12.0, 28.0, 48.0]) == {"per_job": 8.0, "per_subtask": 4.0}


def sample(subtasks: int, redis_cpu_ms: float) -> dict[str, Any]:
    values = {key: float(subtasks) for key in FITTED}
    return {
        **values,
        "redis_cpu_ms": redis_cpu_ms,
        "wall_s": 1.0,
        "client_share": 0.001,
        "client_commands": 3,
        "client_submit_commands": 400,
        "top_commands_per_job": {},
        "job": {},
    }


def test_jobs_per_second_come_from_the_median_of_the_samples() -> None:
    samples = {
        1: [sample(1, 2.0), sample(1, 3.0), sample(1, 4.0)],
        5: [sample(5, 8.0), sample(5, 50.0), sample(5, 10.0)],  # one noisy outlier
        10: [sample(10, 16.0), sample(10, 16.0), sample(10, 17.0)],
    }
    summary = summarise(samples, idle={}, memory={}, jobs=100, latency_ms=0.0)
    assert summary["jobs_per_s_at_80pct_core"] == {"5": 80.0, "10": 50.0}
    five = next(p for p in summary["points"] if p["subtasks"] == 5)
    assert five["samples"]["redis_cpu_ms"] == [8.0, 50.0, 10.0]  # every sample is shown
    assert summary["repeats"] == 3


@pytest.mark.parametrize(("share", "passed"), [(0.001, True), (0.05, False)])
def test_the_client_share_target(share: float, passed: bool) -> None:
    (row,) = report_capacity.targets({"capacity": {"client_share_max": share}})
    assert row[2] is passed
