"""`GET /v1/jobs/{id}/events` as Server-Sent Events: what one open stream costs the API.

Followers wait on the event loop, not in the request thread pool: every `Client.wait` is one
open stream, and a pool thread each would soon leave none for other requests. An idle
stream costs one XREAD per keep-alive and, rarely, a status check that Redis answers with
one word; it ends on its job's last event (written in the same transaction as the final
status, so it is never missed). The streams share a bounded connection pool: when every
connection is taken a new stream is refused at once rather than left waiting.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Protocol

from fastapi.responses import JSONResponse, Response, StreamingResponse

from chorus.contract import limits
from chorus.contract.events import EventKind, JobEvent
from chorus.contract.models import JobRecord
from chorus.core.event_cursor import Cursor
from chorus.store.health import UNREACHABLE

log = logging.getLogger(__name__)

STREAM_MAX_S = 3600  # a client following longer reconnects with Last-Event-ID
STREAMS_BUSY = "too many open event streams; try again later"


class EventSource(Protocol):
    async def read(
        self, job_id: str, after: str = "0", *, block_ms: int | None = 1000, deltas: bool = False
    ) -> list[JobEvent]: ...

    async def over(self, job_id: str) -> bool: ...


class EventStreams:
    def __init__(
        self,
        events: EventSource,
        *,
        limit: int = limits.API_STREAM_CONNECTIONS,
        keepalive_s: float = limits.STREAM_KEEPALIVE_S,
        recheck_s: float = limits.STREAM_RECHECK_S,
    ) -> None:
        self._events = events
        self._limit = limit
        self._keepalive_ms = int(keepalive_s * 1000)
        self._recheck_s = recheck_s
        self.open = 0  # streams being served: each may hold a pool connection

    def response(
        self, record: JobRecord, last_event_id: str | None, *, deltas: bool = True
    ) -> Response:
        """The stream of `record`'s job after `last_event_id` (with the workers' text as
        `subtask_delta` events unless `deltas` is false), or 503 when the pool is taken. A
        burst may overshoot the count by the streams not yet started: those wait on the pool
        no longer than the fail-fast timeout, then end, and their clients reconnect."""
        try:
            Cursor.parse(last_event_id)
        except ValueError as exc:
            fields = [{"field": "header.last-event-id", "message": str(exc)}]
            return JSONResponse({"error": f"Last-Event-ID: {exc}", "fields": fields}, 422)
        if self.open >= self._limit:
            return JSONResponse({"error": STREAMS_BUSY}, 503, headers={"Retry-After": "1"})
        final = record.status.is_final
        stream = self._stream(record.job_id, last_event_id or "0", final, deltas)
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream, media_type="text/event-stream", headers=headers)

    async def _stream(
        self, job_id: str, after: str, final: bool, deltas: bool
    ) -> AsyncIterator[str]:
        self.open += 1
        try:
            async for chunk in self._follow(job_id, after, final, deltas):
                yield chunk
        except UNREACHABLE as exc:
            # The status line is long gone: end the stream; the client reconnects after its
            # last event and gets a 503 for as long as Redis is away.
            log.warning("event stream of %s ended, store unavailable: %s", job_id, exc)
        finally:
            self.open -= 1

    async def _follow(
        self, job_id: str, after: str, final: bool, deltas: bool
    ) -> AsyncIterator[str]:
        deadline = time.monotonic() + STREAM_MAX_S
        recheck_at = time.monotonic() + self._recheck_s
        waited = False
        while time.monotonic() < deadline:
            # The first read answers at once, so a waiting client hears a keep-alive now;
            # a final job has every event in the stream already: read them, never wait.
            block = self._keepalive_ms if waited and not final else None
            batch = await self._events.read(job_id, after, block_ms=block, deltas=deltas)
            waited = True
            if not batch:
                if final:
                    return  # nothing more will come
                if time.monotonic() >= recheck_at:
                    # Its last event ends a stream; this catches a job gone (expired) meanwhile.
                    recheck_at = time.monotonic() + self._recheck_s
                    final = await self._events.over(job_id)
                yield ": keep-alive\n\n"
                continue
            for n, event in enumerate(batch):
                after, data = event.id, event.data
                superseded = False
                if event.kind.is_last:
                    # A job retried since (`retried` follows) is followed on to its new last
                    # event; the old one says so, since a client stops at a last event.
                    later = batch[n + 1 :] or await self._events.read(
                        job_id, after, block_ms=None, deltas=deltas
                    )
                    superseded = any(e.kind is EventKind.RETRIED for e in later)
                    data = {**data, "superseded": True} if superseded else data
                payload = json.dumps(data)
                yield f"id: {event.id}\nevent: {event.kind.value}\ndata: {payload}\n\n"
                if event.kind.is_last and not superseded:
                    return
