"""What each progress event says: enough for a watcher (the CLI, the console, a service on
the event stream) to show progress, tokens, cost and time without reading the record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chorus.contract.models import JobRecord, SubtaskResult, Usage


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round(max(0.0, (end - start).total_seconds()), 3)


def _spend(usage: Usage) -> dict[str, Any]:
    return {"tokens": usage.total_tokens, "cost_usd": round(usage.cost_usd, 6)}


def planned(record: JobRecord) -> dict[str, Any]:
    types = [s.type for s in record.plan.subtasks] if record.plan else []
    return {"subtasks": record.subtasks_total, "types": types}


def subtask_finished(result: SubtaskResult) -> dict[str, Any]:
    return {
        "index": result.index,
        "type": result.type,
        "status": result.status.value,
        "model": result.model,
        "attempts": result.attempts,
        **_spend(result.usage),
        "duration_s": _seconds(result.started_at, result.finished_at),
    }


def job_ended(record: JobRecord) -> dict[str, Any]:
    """For `job_finished` and `cancelled`: the job's totals as they stand at that moment."""
    return {
        "status": record.status.value,
        "subtasks_total": record.subtasks_total,
        "subtasks_failed": record.subtasks_failed,
        **_spend(record.usage),
        "duration_s": _seconds(record.created_at, record.finished_at),
    }
