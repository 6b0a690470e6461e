"""Progress events of a job, as they travel in its Redis Stream and over the API's SSE:
planned, subtask_started, subtask_finished, job_finished, cancelled."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

MAX_EVENTS_PER_JOB = 2_000


class EventKind(StrEnum):
    PLANNED = "planned"
    SUBTASK_STARTED = "subtask_started"
    SUBTASK_FINISHED = "subtask_finished"
    JOB_FINISHED = "job_finished"
    CANCELLED = "cancelled"

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
