"""What progress events tell a watcher: counts, types, tokens, cost and time."""

from __future__ import annotations

from datetime import timedelta

from chorus.contract.models import SubtaskResult, SubtaskStatus, Usage
from chorus.core import announcements, records
from tests.support.factories import T0, running


def test_a_finished_subtask_says_its_model_spend_attempts_and_duration() -> None:
    result = SubtaskResult(
        index=2, type="risks", description="d", status=SubtaskStatus.SUCCEEDED, output="o",
        attempts=2, model="claude-haiku-5-5",
        usage=Usage(input_tokens=120, output_tokens=30, cost_usd=0.000123456789),
        started_at=T0, finished_at=T0 + timedelta(seconds=2.5),
    )  # fmt: skip
    assert announcements.subtask_finished(result) == {
        "index": 2,
        "type": "risks",
        "status": "succeeded",
        "model": "claude-haiku-5-5",
        "attempts": 2,
        "tokens": 150,
        "cost_usd": 0.000123,
        "duration_s": 2.5,
    }


def test_a_subtask_that_never_started_has_no_duration() -> None:
    skipped = SubtaskResult(
        index=0, type="t", description="d", status=SubtaskStatus.SKIPPED, error="budget",
        finished_at=T0,
    )  # fmt: skip
    found = announcements.subtask_finished(skipped)
    assert found["duration_s"] is None and found["tokens"] == 0


def test_planned_names_the_subtask_types_in_plan_order() -> None:
    assert announcements.planned(running(3)) == {"subtasks": 3, "types": ["t0", "t1", "t2"]}


def test_a_job_that_ended_reports_its_totals_from_creation_to_its_end() -> None:
    job = running(2)
    ended = records.with_cancellation(job, T0 + timedelta(minutes=2))
    assert announcements.job_ended(ended) == {
        "status": "cancelled",
        "subtasks_total": 2,
        "subtasks_failed": 0,
        "tokens": 15,
        "cost_usd": 0.0,
        "duration_s": 120.0,
    }
