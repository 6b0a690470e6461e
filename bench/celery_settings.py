"""The Celery settings each queued system ran with, printed beside the figures: the bare
chord keeps Celery's defaults (what a user writes first), Chorus its production settings,
and the differences between them move the comparison."""

from __future__ import annotations

from typing import Any

from celery import Celery

from bench import bare_chord
from chorus.contract import limits
from chorus.runtime.app import create_celery_app
from chorus.settings import Settings

SETTINGS = (
    ("task_acks_late", "acks late (redelivered if the worker dies)"),
    ("task_reject_on_worker_lost", "requeue on a lost worker"),
    ("worker_prefetch_multiplier", "prefetch multiplier"),
    ("worker_send_task_events", "task events (Flower)"),
    ("task_send_sent_event", "task-sent events"),
)


def _read(app: Celery) -> dict[str, Any]:
    return {key: app.conf[key] for key, _ in SETTINGS}


def run(redis_url: str) -> dict[str, Any]:
    chorus_app = create_celery_app(Settings(redis_url=redis_url, anthropic_api_key=None))
    bare_app = bare_chord.build_app(redis_url)
    pools = {
        "pool": "threads",
        "orchestrator_concurrency": limits.DEFAULT_ORCHESTRATOR_CONCURRENCY,
        "worker_concurrency": limits.DEFAULT_WORKER_CONCURRENCY,
    }
    try:
        return {
            "celery_settings": {
                "chorus": {**_read(chorus_app), **pools},
                "bare_chord": {**_read(bare_app), **pools},
            }
        }
    finally:
        chorus_app.close()
        bare_app.close()


def markdown(r: dict[str, Any]) -> list[str]:
    if "celery_settings" not in r:
        return []
    chorus, bare = r["celery_settings"]["chorus"], r["celery_settings"]["bare_chord"]
    rows = [
        f"| {label} | {chorus[key]} | {bare[key]} |"
        for key, label in (*SETTINGS, ("pool", "pool"), ("worker_concurrency", "worker threads"))
    ]
    differ = [label for key, label in SETTINGS if chorus[key] != bare[key]]
    return [
        "## Celery settings of the queued systems",
        "",
        "The bare chord runs Celery's defaults, as a user writes it first; Chorus its "
        "production settings. Differences: " + (", ".join(differ) or "none") + ". Each "
        "difference spares the bare chord work per task: it flatters the floor, not Chorus.",
        "",
        "| setting | Chorus | bare chord |",
        "|---|---|---|",
        *rows,
        "",
    ]
