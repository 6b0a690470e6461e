"""Markdown pieces shared by the report's sections."""

from __future__ import annotations

from typing import Any

NAMES = {
    "sequential": "sequential loop",
    "asyncio": "in-process asyncio",
    "bare_chord": "bare Celery chord",
    "chorus": "Chorus",
}


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows] + [""]


def rss(rss: dict[str, Any]) -> str:
    if not rss["children"]:
        return f"{rss['total_mb']:.0f} MB"
    each = rss["children_mb"] / rss["children"]
    return (
        f"{rss['total_mb']:.0f} MB ({rss['main_mb']:.0f} + {rss['children']} × {each:.0f}; "
        f"PSS now {rss['pss_now_mb']:.0f} MB)"
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def samples_ms(seconds: list[float]) -> str:
    return ", ".join(f"{s * 1000:.0f}" for s in seconds) + " ms"


def samples_s(seconds: list[float]) -> str:
    return ", ".join(f"{s:.2f}" for s in seconds) + " s"
