"""The job's event stream in Redis, so a client that connects late or reconnects
(`Last-Event-ID`) misses nothing. `JobEvents` writes and reads from worker threads;
`AsyncJobEvents` reads for the API's event streams, one event loop for every follower.

With `deltas=True` a read also takes the subtasks' (and the synthesis's) `subtask_delta`
streams, merged into one ordered sequence (`chorus.core.event_cursor`): one XREAD either way.
"""

from __future__ import annotations

import json
from typing import Any, cast

import redis
import redis.asyncio

from chorus.contract import names
from chorus.contract.events import MAX_EVENTS_PER_JOB, EventKind, JobEvent, event_fields
from chorus.contract.models import JobStatus
from chorus.core.event_cursor import PARTS, SYNTHESIS_PART, Cursor, Entry, merge

_READ_COUNT = 100
_STATUS_LUA = """
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
return cjson.decode(raw)['status']
"""
_Reply = list[tuple[str, list[tuple[str, dict[str, str]]]]]


def _streams(job_id: str, after: str, deltas: bool) -> tuple[Cursor, dict[str, str]]:
    """The cursor `after` names (ValueError if none) and the XREAD `streams` argument."""
    cursor = Cursor.parse(after)
    keys = _delta_keys(job_id) if deltas else {}
    return cursor, cursor.positions(names.job_events_key(job_id), keys)


def _delta_keys(job_id: str) -> dict[str, str]:
    return {
        part: names.job_synthesis_deltas_key(job_id)
        if part == SYNTHESIS_PART
        else names.job_deltas_key(job_id, int(part))
        for part in PARTS
    }


def _deltas_key(job_id: str, index: int | None) -> str:
    if index is None:
        return names.job_synthesis_deltas_key(job_id)
    return names.job_deltas_key(job_id, index)


def _events(job_id: str, cursor: Cursor, reply: Any, with_deltas: bool) -> list[JobEvent]:
    """The reply's entries in time order, each with the cursor after it as its id."""
    main_key = names.job_events_key(job_id)
    parts = {key: part for part, key in _delta_keys(job_id).items()}
    main: list[tuple[str, dict[str, str]]] = []
    deltas: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for key, entries in cast(_Reply, reply or []):
        if key == main_key:
            main = entries
        else:
            deltas[parts[key]] = entries
    merged: list[tuple[str | None, Entry, str]]
    if not with_deltas:  # the main stream alone: its ids are the cursors
        merged = [(None, entry, entry[0]) for entry in main]
    else:
        merged = merge(cursor, main, deltas, _READ_COUNT).entries
    return [
        JobEvent(id=at, kind=EventKind(fields["kind"]), data=json.loads(fields["data"]))
        for _, (_, fields), at in merged
    ]


def delta_fields(job_id: str, index: int | None, attempt: int, text: str) -> dict[str, str]:
    """A `subtask_delta` event as its stream stores it (also written by the result script,
    `JobStore.save_result`, for a reply's last batch)."""
    extra: dict[str, Any] = {"synthesis": True} if index is None else {}
    return event_fields(
        job_id, EventKind.SUBTASK_DELTA, index=index, attempt=attempt, text=text, **extra
    )


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

    def delta(
        self, job_id: str, index: int | None, attempt: int, text: str, *, fresh: bool = False
    ) -> None:
        """One batch of a subtask's (or, index None, the synthesis's) text, in its own stream:
        trimmed when the result is recorded (`SAVE_RESULT_LUA`) or the job ends."""
        key = _deltas_key(job_id, index)
        fields = delta_fields(job_id, index, attempt, text)
        with self._redis.pipeline(transaction=False) as pipe:
            if fresh:  # in the same round trip as the call's first batch
                pipe.delete(key)
            pipe.xadd(key, fields)  # type: ignore[arg-type]
            pipe.expire(key, self._ttl_s)
            pipe.execute()

    def drop_deltas(self, job_id: str, index: int | None) -> None:
        """Forget a failed attempt's text: a retry streams its reply again from the start."""
        self._redis.delete(_deltas_key(job_id, index))

    def read(
        self, job_id: str, after: str = "0", *, block_ms: int = 1000, deltas: bool = False
    ) -> list[JobEvent]:
        """Events after `after` (an event's id), waiting up to block_ms for the first one;
        with `deltas`, the workers' text too. ValueError for an id no stream gave out."""
        cursor, streams = _streams(job_id, after, deltas)
        reply = self._redis.xread(streams, count=_READ_COUNT, block=block_ms)  # type: ignore[arg-type]
        return _events(job_id, cursor, reply, deltas)


class AsyncJobEvents:
    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._redis = client
        self._status = client.register_script(_STATUS_LUA)

    async def read(
        self, job_id: str, after: str = "0", *, block_ms: int | None = 1000, deltas: bool = False
    ) -> list[JobEvent]:
        """As `JobEvents.read`; `block_ms=None` answers at once."""
        cursor, streams = _streams(job_id, after, deltas)
        reply = await self._redis.xread(streams, count=_READ_COUNT, block=block_ms)  # type: ignore[arg-type]
        return _events(job_id, cursor, reply, deltas)

    async def over(self, job_id: str) -> bool:
        """True when no more events will come: the job is final, or gone. Redis picks the
        status out of the record, so a check costs a short reply, not a record to parse."""
        status = await self._status(keys=[names.job_key(job_id)])
        return status is None or JobStatus(status).is_final

    async def close(self) -> None:
        await self._redis.aclose()
