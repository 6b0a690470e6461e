"""The job's event stream in Redis, so a client that connects late or reconnects
(`Last-Event-ID`) misses nothing. `JobEvents` writes and reads from worker threads;
`AsyncJobEvents` reads for the API's event streams, one event loop for every follower."""

from __future__ import annotations

import json
from typing import Any, cast

import redis
import redis.asyncio

from chorus.contract import names
from chorus.contract.events import MAX_EVENTS_PER_JOB, EventKind, JobEvent, event_fields
from chorus.contract.models import JobStatus

_READ_COUNT = 100
_STATUS_LUA = """
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
return cjson.decode(raw)['status']
"""
_Reply = list[tuple[str, list[tuple[str, dict[str, str]]]]]


def _events(reply: Any) -> list[JobEvent]:
    return [
        JobEvent(id=event_id, kind=EventKind(fields["kind"]), data=json.loads(fields["data"]))
        for _, entries in cast(_Reply, reply or [])
        for event_id, fields in entries
    ]


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
        return _events(self._redis.xread({key: after}, count=_READ_COUNT, block=block_ms))


class AsyncJobEvents:
    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._redis = client
        self._status = client.register_script(_STATUS_LUA)

    async def read(
        self, job_id: str, after: str = "0", *, block_ms: int | None = 1000
    ) -> list[JobEvent]:
        """As `JobEvents.read`; `block_ms=None` answers at once."""
        key = names.job_events_key(job_id)
        return _events(await self._redis.xread({key: after}, count=_READ_COUNT, block=block_ms))

    async def over(self, job_id: str) -> bool:
        """True when no more events will come: the job is final, or gone. Redis picks the
        status out of the record, so a check costs a short reply, not a record to parse."""
        status = await self._status(keys=[names.job_key(job_id)])
        return status is None or JobStatus(status).is_final

    async def close(self) -> None:
        await self._redis.aclose()
