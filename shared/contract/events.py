"""Progress events of a job, as they travel in its Redis Stream and over the API's SSE:
planned, subtask_started, subtask_delta, subtask_finished, job_finished, cancelled, and for
live and resumable jobs awaiting_review and retried."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

MAX_EVENTS_PER_JOB = 2_000


class EventKind(StrEnum):
    PLANNED = "planned"
    # The plan waits for a person (options.review_plan); `planned` follows an approval.
    AWAITING_REVIEW = "awaiting_review"
    SUBTASK_STARTED = "subtask_started"
    # A batch of a worker's text as it is written (index, attempt, text). Transient: kept in
    # the subtask's own delta stream, deleted once its result is recorded.
    SUBTASK_DELTA = "subtask_delta"
    SUBTASK_FINISHED = "subtask_finished"
    JOB_FINISHED = "job_finished"
    CANCELLED = "cancelled"
    # A final job runs again: what failed or was skipped (run, subtasks).
    RETRIED = "retried"

    @property
    def is_last(self) -> bool:
        return self in (EventKind.JOB_FINISHED, EventKind.CANCELLED)


@dataclass(frozen=True)
class JobEvent:
    id: str
    kind: EventKind
    data: dict[str, Any]


def event_fields(job_id: str, kind: EventKind, **data: Any) -> dict[str, str]:
    """One event as stored in the stream (also written by the job store's result script)."""
    return {"kind": kind.value, "data": json.dumps({"job_id": job_id, **data})}
