"""The job page's Gantt chart as geometry: pure, so the scaling rules are tested without HTML.

x is seconds since the job's `created_at`, scaled to `width`. Row 0 is planning, one row per
planned subtask follows (by index), and the gather/synthesis bar comes last. A running job is
measured up to `now`, which the caller passes in so the result depends on its inputs only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chorus.contract.models import JobRecord, SubtaskResult

MIN_BAR_PX = 2.0  # a bar of zero length still has to be seen and hovered


@dataclass(frozen=True)
class Bar:
    row: int
    x: float
    width: float
    label: str
    css: str
    start_s: float
    end_s: float
    attempts: int = 1


@dataclass(frozen=True)
class Timeline:
    bars: list[Bar]
    span_s: float  # the seconds `width` stands for
    width: float


def _seconds(record: JobRecord, moment: datetime) -> float:
    return max(0.0, (moment - record.created_at).total_seconds())


def _start(result: SubtaskResult) -> datetime:
    return result.started_at or result.finished_at


def layout(record: JobRecord, width: float, now: datetime) -> Timeline:
    """The bars of `record`'s chart, `width` pixels wide, with `now` as the end of anything
    still going."""
    end = record.finished_at or now
    results = sorted(record.results, key=lambda r: r.index)
    final = record.status.is_final
    if results:
        planned_until = min(_start(r) for r in results)
    elif final or record.plan is not None:
        # Ended during planning, or planned with nothing back yet: `updated_at` is the plan.
        planned_until = record.finished_at or record.updated_at
    else:
        planned_until = now
    spans: list[tuple[int, float, float, str, str, int]] = [
        (0, 0.0, _seconds(record, planned_until), "planning", "bar-planning", 1)
    ]
    done = {r.index for r in results}
    subtasks = record.plan.subtasks if record.plan else []
    rows = {s.index: row for row, s in enumerate(subtasks, start=1)}
    for result in results:
        label = f"#{result.index} {result.type}"
        if result.attempts > 1:
            label += f" \u00d7{result.attempts} attempts"
        row = rows.get(result.index, len(rows) + 1 + result.index)
        start_s, end_s = _seconds(record, _start(result)), _seconds(record, result.finished_at)
        css = f"bar-{result.status.value}"
        spans.append((row, start_s, end_s, label, css, result.attempts))
    if not final:
        # Planned and not back yet: running (or queued) since planning ended.
        for subtask in subtasks:
            if subtask.index not in done:
                label = f"#{subtask.index} {subtask.type}"
                spans.append(
                    (rows[subtask.index], _seconds(record, planned_until), _seconds(record, now),
                     label, "bar-pending", 1)
                )  # fmt: skip
    if record.finished_at is not None and results:
        last = max(r.finished_at for r in results)
        label = "gather + synthesis" if record.synthesis or record.synthesis_error else "gather"
        row = max(rows.values(), default=len(results)) + 1
        spans.append((row, _seconds(record, last), _seconds(record, end), label, "bar-gather", 1))
    span_s = max([_seconds(record, end), *(s[2] for s in spans), 0.001])
    scale = width / span_s
    bars = []
    for row, start_s, end_s, label, css, attempts in spans:
        end_s = max(end_s, start_s)  # clocks of two hosts may disagree: never negative
        bar_width = max(MIN_BAR_PX, (end_s - start_s) * scale)
        x = min(max(0.0, start_s * scale), max(0.0, width - bar_width))
        bars.append(Bar(row, x, bar_width, label, css, start_s, end_s, attempts))
    bars.sort(key=lambda b: (b.row, b.x))
    return Timeline(bars=bars, span_s=span_s, width=width)


def ticks(span_s: float, count: int = 5) -> list[float]:
    """Round second marks for the x axis, at most `count` + 1 of them, from 0."""
    raw = span_s / count
    step = next(
        (s for s in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600)
         if s >= raw), 3600.0 * max(1, round(raw / 3600))
    )  # fmt: skip
    marks, at = [], 0.0
    while at <= span_s + 1e-9:
        marks.append(round(at, 3))
        at += step
    return marks
