"""The console's Gantt geometry: rows, scaling, minimum widths, and a running job's `now`."""

from __future__ import annotations

from datetime import timedelta

from chorus.contract.models import JobRecord, JobStatus, SubtaskResult
from chorus.orchestrator_service.api.console.timeline import MIN_BAR_PX, layout, ticks
from tests.support.factories import T0, result, running


def at(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def timed(i: int, start: float, end: float, attempts: int = 1) -> SubtaskResult:
    return result(i).model_copy(
        update={"started_at": T0 + at(start), "finished_at": T0 + at(end), "attempts": attempts}
    )


def finished(results: list[SubtaskResult], end: float) -> JobRecord:
    return running(len(results)).model_copy(
        update={"results": results, "status": JobStatus.SUCCEEDED, "finished_at": T0 + at(end)}
    )


def test_bars_are_planning_then_subtasks_by_index_then_gather() -> None:
    record = finished([timed(1, 2, 6), timed(0, 2, 4), timed(2, 3, 8)], end=10)
    bars = layout(record, 1000, now=T0 + at(99)).bars
    assert [b.label for b in bars] == ["planning", "#0 t0", "#1 t1", "#2 t2", "gather"]
    assert [b.row for b in bars] == [0, 1, 2, 3, 4]
    assert [b.css for b in bars] == [
        "bar-planning", "bar-succeeded", "bar-succeeded", "bar-succeeded", "bar-gather",
    ]  # fmt: skip


def test_seconds_scale_to_the_width_from_created_at_to_finished_at() -> None:
    record = finished([timed(0, 2, 4), timed(1, 2, 8)], end=10)
    chart = layout(record, 1000, now=T0 + at(99))
    planning, first, second, gather = chart.bars
    assert chart.span_s == 10
    assert (planning.x, planning.width) == (0, 200)  # created_at -> the earliest start
    assert (first.x, first.width) == (200, 200)
    assert (second.x, second.width) == (200, 600)
    assert (gather.x, gather.width) == (800, 200)  # the last finish -> finished_at


def test_a_zero_length_bar_gets_the_minimum_width_and_stays_inside() -> None:
    record = finished([timed(0, 10, 10)], end=10)
    bars = layout(record, 500, now=T0 + at(99)).bars
    assert all(b.width >= MIN_BAR_PX for b in bars)
    assert all(b.x >= 0 and b.x + b.width <= 500 for b in bars)


def test_a_running_job_is_measured_up_to_the_now_passed_in() -> None:
    record = running(2).model_copy(update={"results": [timed(0, 1, 3)]})
    chart = layout(record, 400, now=T0 + at(8))
    assert chart.span_s == 8
    pending = [b for b in chart.bars if b.css == "bar-pending"]
    assert [(b.label, b.start_s, b.end_s) for b in pending] == [("#1 t1", 1, 8)]
    assert pending[0].x + pending[0].width == 400
    assert "gather" not in [b.label for b in chart.bars]
    later = layout(record, 400, now=T0 + at(16))
    assert later.span_s == 16


def test_a_job_that_ended_in_planning_has_one_planning_bar_to_finished_at() -> None:
    record = running(1).model_copy(
        update={"plan": None, "status": JobStatus.FAILED, "finished_at": T0 + at(5)}
    )
    chart = layout(record, 300, now=T0 + at(50))
    assert [(b.label, b.x, b.width) for b in chart.bars] == [("planning", 0, 300)]


def test_clock_skew_never_gives_a_negative_width_or_x() -> None:
    # A worker whose clock is behind the orchestrator's: started "before" the job existed
    # and finished before it started.
    skewed = timed(0, -3, -1).model_copy(update={"finished_at": T0 - at(5)})
    record = finished([skewed, timed(1, 4, 2)], end=6)
    for bar in layout(record, 600, now=T0 + at(99)).bars:
        assert bar.width >= MIN_BAR_PX and bar.x >= 0 and bar.end_s >= bar.start_s


def test_retried_subtasks_are_labelled_with_their_attempts() -> None:
    record = finished([timed(0, 1, 2), timed(1, 1, 3, attempts=3)], end=4)
    labels = [b.label for b in layout(record, 100, now=T0).bars]
    assert "#1 t1 \u00d73 attempts" in labels and "#0 t0" in labels


def test_axis_ticks_are_round_and_cover_the_span() -> None:
    assert ticks(10) == [0, 2, 4, 6, 8, 10]
    assert ticks(0.5) == [0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert ticks(95)[-1] <= 95 and len(ticks(95)) <= 6
