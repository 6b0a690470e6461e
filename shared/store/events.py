"""The job's event stream in Redis, so a client that connects late or reconnects
(`Last-Event-ID`) misses nothing."""

from __future__ import annotations

import json
from typing import Any, cast

import redis

from chorus.contract import names
from chorus.contract.events import MAX_EVENTS_PER_JOB, EventKind, JobEvent, event_fields


class JobEvents:
    def __init__(self, client: redis.Redis, *, ttl_s: int) -> None:
        self._redis = client
        self._ttl_s = ttl_s

    def emit(self, job_id: str, kind: EventKind, **data: Any) -> None:
        key = names.job_events_key(job_id)
        fields = event_fields(job_id, kind, **data)
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.xadd(key, fields, maxlen=MAX_EVENTS_PER_JOB, approximate=True)  # type: ignore[arg-type]
            pipe.expire(key, self._ttl_s)
            pipe.execute()

    def read(self, job_id: str, after: str = "0", *, block_ms: int = 1000) -> list[JobEvent]:
        """Events after `after` (a stream id), waiting up to block_ms for the first one."""
        key = names.job_events_key(job_id)
        reply = cast(
            list[tuple[str, list[tuple[str, dict[str, str]]]]],
            self._redis.xread({key: after}, count=100, block=block_ms),
        )
        return [
            JobEvent(id=event_id, kind=EventKind(fields["kind"]), data=json.loads(fields["data"]))
            for _, entries in reply or []
            for event_id, fields in entries
        ]
