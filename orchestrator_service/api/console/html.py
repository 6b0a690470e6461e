"""Small HTML builders. Every value that may come from a user goes through `esc`; the fixed
markup around it is ours. No template engine ever reads user text, so a task, an output or an
error holding markup is shown as text, never run (the CSP is the second line)."""

from __future__ import annotations

import html
import json
from typing import Any

from chorus.orchestrator_service.api.console.timeline import Timeline, ticks

ROW_PX = 22
GUTTER_PX = 190  # the label column left of the bars
AXIS_PX = 22


def esc(value: object) -> str:
    """`value` as text safe in an element or a double-quoted attribute."""
    return html.escape(str(value), quote=True)


def page(title: str, body: str, *, nav: bool = True) -> str:
    links = (
        '<nav><a href="/ui">Jobs</a> <a href="/ui/fleet">Fleet</a> '
        '<a href="/ui/logout">Sign out</a></nav>'
        if nav
        else ""
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} \u00b7 Chorus</title>"
        # No icon of our own: an empty data: one stops the browser asking /favicon.ico.
        '<link rel="icon" href="data:,">'
        '<link rel="stylesheet" href="/ui/static/console.css">'
        '<script src="/ui/static/console.js" defer></script>'
        f'</head><body><header><a class="brand" href="/ui">Chorus</a>{links}</header>'
        f"<main>{body}</main></body></html>"
    )


def csrf_field(token: str) -> str:
    return f'<input type="hidden" name="csrf" value="{esc(token)}">'


def pretty_json(value: Any) -> str:
    return f"<pre>{esc(json.dumps(value, indent=2, ensure_ascii=False, default=str))}</pre>"


def tree(value: Any, depth: int = 0) -> str:
    """Typed output data as nested lists; keys and leaves are escaped text. Deep values stop
    at a depth where a page would be unreadable anyway, shown as JSON."""
    if depth > 12:
        return f"<code>{esc(json.dumps(value, default=str))}</code>"
    if isinstance(value, dict):
        items = "".join(
            f"<li><span class=key>{esc(k)}</span>: {tree(v, depth + 1)}</li>"
            for k, v in value.items()
        )
        return f"<details open><summary>{{{len(value)}}}</summary><ul>{items}</ul></details>"
    if isinstance(value, list):
        items = "".join(f"<li>{tree(v, depth + 1)}</li>" for v in value)
        return f"<details open><summary>[{len(value)}]</summary><ul>{items}</ul></details>"
    return f"<code>{esc(json.dumps(value, ensure_ascii=False, default=str))}</code>"


def dollars(cost: float) -> str:
    return f"${cost:.4f}" if cost < 1 else f"${cost:,.2f}"


def seconds(value: float | None) -> str:
    if value is None:
        return "\u2013"
    return f"{value:.1f}s" if value < 120 else f"{value / 60:.1f}min"


def timeline_svg(chart: Timeline) -> str:
    """The Gantt chart as an SVG fragment (no script, no style attribute: classes only)."""
    rows = max((b.row for b in chart.bars), default=0) + 1
    height = rows * ROW_PX + AXIS_PX
    total = GUTTER_PX + chart.width + 10
    parts = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{total:.0f}" '
        f'height="{height}" viewBox="0 0 {total:.0f} {height}" role="img" '
        f'aria-label="timeline, {chart.span_s:.1f} seconds">'
    ]
    for mark in ticks(chart.span_s):
        x = GUTTER_PX + mark / chart.span_s * chart.width
        parts.append(
            f'<line class="tick" x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{rows * ROW_PX}"/>'
            f'<text class="tick-label" x="{x:.1f}" y="{height - 6}">{mark:g}s</text>'
        )
    for bar in chart.bars:
        y = bar.row * ROW_PX
        parts.append(
            f'<g class="bar {esc(bar.css)}"><title>{esc(bar.label)}: '
            f"{bar.start_s:.2f}s \u2192 {bar.end_s:.2f}s</title>"
            f'<text class="bar-label" x="4" y="{y + 15}">{esc(bar.label[:28])}</text>'
            f'<rect x="{GUTTER_PX + bar.x:.1f}" y="{y + 3}" width="{bar.width:.1f}" '
            f'height="{ROW_PX - 6}" rx="2"/>'
        )
        if bar.attempts > 1:
            parts.append(
                f'<circle class="retry-mark" cx="{GUTTER_PX + bar.x + bar.width:.1f}" '
                f'cy="{y + ROW_PX / 2}" r="4"/>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)
