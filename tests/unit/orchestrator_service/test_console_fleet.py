"""The Fleet page's pure parts: process roles, the jobs-per-minute chart's geometry, escaping."""

from __future__ import annotations

import pytest

from chorus.orchestrator_service.api.console.fleet import Fleet, bars, chart_svg, fleet_page, role

SCRIPT = "<script>alert(1)</script>"


@pytest.mark.parametrize(
    ("instance", "expected"),
    [
        ("orchestrator@host/1a2b3c4d", "orchestrator"),
        ("worker3@host/1a2b3c4d", "worker"),
        ("Worker@host/1a2b3c4d", "worker"),
        ("flower@host/1a2b3c4d", "other"),
        ("celery@orchestrator/1a2b3c4d", "other"),  # the host does not say the role
    ],
)
def test_a_process_role_comes_from_its_node_name(instance: str, expected: str) -> None:
    assert role(instance) == expected


def test_the_busiest_minute_fills_the_height_and_the_others_scale_from_the_baseline() -> None:
    chart = bars([0, 2, 4, 1], width=400, height=100)
    assert [b.height for b in chart] == [0, 50, 100, 25]
    assert [b.y + b.height for b in chart] == [100] * 4  # every bar stands on the baseline
    assert [b.x for b in chart] == [0, 100, 200, 300]
    assert all(b.width == 99 for b in chart)  # a 1 px gap between neighbours
    assert [b.minutes_ago for b in chart] == [3, 2, 1, 0]  # the current minute is last


def test_an_idle_hour_draws_flat_bars_and_no_minutes_draw_nothing() -> None:
    assert all(b.height == 0 and b.y == 50 for b in bars([0] * 60, width=600, height=50))
    assert bars([], width=600, height=50) == []


def test_narrow_slots_keep_a_positive_width() -> None:
    chart = bars([1] * 60, width=60, height=10)
    assert all(0 < b.width < 1 for b in chart) and chart[-1].x + chart[-1].width <= 60


def test_the_chart_has_one_rect_per_minute_and_no_inline_style() -> None:
    svg = chart_svg([0] * 59 + [3])
    assert svg.count('<rect class="minute"') == 60 and "style=" not in svg
    assert "this minute: 3 jobs" in svg


def test_the_page_escapes_process_and_tenant_names_and_totals_the_tenants_spend() -> None:
    fleet = Fleet(
        processes=[(f"worker@{SCRIPT}/1", "worker"), ("orchestrator@h/2", "orchestrator")],
        queues={"orchestrator": 0, "subtasks": 12},
        in_flight=3,
        jobs_per_minute=[0] * 59 + [2],
        spend={"m1": 0.25, SCRIPT: 0.5},
    )
    html = fleet_page(fleet, "alice")
    assert SCRIPT not in html and "&lt;script&gt;" in html
    assert "<b>2</b> online: 1 orchestrator, 1 worker" in html
    assert "<td>subtasks</td><td>12</td>" in html and "<td>3</td>" in html
    assert "<td>alice</td><td>all models</td><td>$0.7500</td>" in html
    assert "2 jobs finished in the last hour" in html
