"""Progress events of a job in a Redis Stream, so a client that connects late or reconnects
(`Last-Event-ID`) misses nothing: planned, subtask_started, subtask_finished, job_finished,
cancelled."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

import redis

from shared import constants
from shared.models import JobRecord, JobStatus

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


def transition_event(
    before: JobRecord, after: JobRecord
) -> tuple[EventKind, dict[str, Any]] | None:
    """The event a record change announces, if any (pure). The job store writes it in the
    same transaction as the change, so a job never changes state unannounced or twice."""
    if before.status is JobStatus.PLANNING and after.status is JobStatus.RUNNING:
        return EventKind.PLANNED, {"subtasks": after.subtasks_total}
    if not before.status.is_final and after.status.is_final:
        kind = (
            EventKind.CANCELLED if after.status is JobStatus.CANCELLED else EventKind.JOB_FINISHED
        )
        return kind, {"status": after.status.value}
    return None


def event_fields(job_id: str, kind: EventKind, **data: Any) -> dict[str, str]:
    """One event as stored in the stream (also written by the job store's result script)."""
    return {"kind": kind.value, "data": json.dumps({"job_id": job_id, **data})}


class JobEvents:
    def __init__(self, client: redis.Redis, *, ttl_s: int) -> None:
        self._redis = client
        self._ttl_s = ttl_s

    def emit(self, job_id: str, kind: EventKind, **data: Any) -> None:
        key = constants.job_events_key(job_id)
        fields = event_fields(job_id, kind, **data)
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.xadd(key, fields, maxlen=MAX_EVENTS_PER_JOB, approximate=True)  # type: ignore[arg-type]
            pipe.expire(key, self._ttl_s)
            pipe.execute()

    def read(self, job_id: str, after: str = "0", *, block_ms: int = 1000) -> list[JobEvent]:
        """Events after `after` (a stream id), waiting up to block_ms for the first one."""
        key = constants.job_events_key(job_id)
        reply = cast(
            list[tuple[str, list[tuple[str, dict[str, str]]]]],
            self._redis.xread({key: after}, count=100, block=block_ms),
        )
        return [
            JobEvent(id=event_id, kind=EventKind(fields["kind"]), data=json.loads(fields["data"]))
            for _, entries in reply or []
            for event_id, fields in entries
        ]
