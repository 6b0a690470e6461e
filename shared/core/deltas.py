"""Batching a streamed reply's text into `subtask_delta` events: however fast the model writes,
a subtask adds at most one event per `every_s` (plus the last), so Redis and the event
streams carry a bounded number of events per second per subtask."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from chorus.contract.limits import DELTA_FIRST_FLUSH_S, DELTA_FLUSH_S
from chorus.core.ports import DeltaTail, EventSink

log = logging.getLogger(__name__)


class DeltaBatcher:
    """Collects text with `add` and hands it to `flush` in order: once `first_s` has passed
    since the first piece, then whenever `every_s` has passed since the last flush, and the
    rest at `close`. A reply written faster than `first_s` goes out in one write."""

    def __init__(
        self,
        flush: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
        every_s: float = DELTA_FLUSH_S,
        first_s: float = DELTA_FIRST_FLUSH_S,
    ) -> None:
        self._flush = flush
        self._clock = clock
        self._every_s = every_s
        self._first_s = first_s
        self._pending: list[str] = []
        self._began: float | None = None  # the first piece's time
        self._last: float | None = None  # the last flush's

    def add(self, text: str) -> None:
        if not text:
            return
        self._pending.append(text)
        now = self._clock()
        if self._began is None:
            self._began = now
        if self._last is None:
            due = now - self._began >= self._first_s
        else:
            due = now - self._last >= self._every_s
        if due:
            self._send(now)

    def close(self) -> None:
        """Flush what is left (nothing is sent for an empty remainder)."""
        if self._pending:
            self._send(self._clock())

    def take(self) -> str:
        """What is left, handed over unsent (the caller writes it in a round trip of its own
        choosing); "" when nothing is."""
        text = "".join(self._pending)
        self._pending.clear()
        return text

    def _send(self, now: float) -> None:
        text = "".join(self._pending)
        self._pending.clear()
        self._last = now
        self._flush(text)


class DeltaWriter:
    """The `on_text` of one streamed call: its text batched into `EventSink.delta` writes.
    A delta is a courtesy to readers, never worth the call: the first failed write is logged
    and the rest of this call's text is not published (the result still records all of it)."""

    def __init__(
        self,
        events: EventSink,
        job_id: str,
        index: int | None,
        attempt: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._events = events
        self._job_id = job_id
        self._index = index
        self._attempt = attempt
        self._broken = False
        self._started = False
        self._batcher = DeltaBatcher(self._write, clock)

    def __call__(self, text: str) -> None:
        if not self._broken:
            self._batcher.add(text)

    def close(self) -> None:
        """Publish what is left: before the result is saved, so no delta follows it."""
        if not self._broken:
            self._batcher.close()

    def tail(self) -> DeltaTail | None:
        """What is left, for the result's save to write in its own round trip (a reply faster
        than the first flush is then published in the same round trip as its result); None
        when nothing is left or a write failed (no more text is published for this call)."""
        text = self._batcher.take()
        if self._broken or not text:
            return None
        fresh, self._started = not self._started, True
        return DeltaTail(self._attempt, text, fresh)

    def drop(self) -> None:
        """The attempt failed: its partial text goes, so a retry's text is not appended to it."""
        try:
            self._events.drop_deltas(self._job_id, self._index)
        except Exception as exc:  # it expires with the job's deltas all the same
            log.warning("job %s: could not drop deltas (%s)", self._job_id, type(exc).__name__)

    def _write(self, text: str) -> None:
        try:
            # A call starts its text afresh: a worker killed mid-stream left its partial text,
            # and the redelivered message runs under the same attempt number.
            fresh, self._started = not self._started, True
            self._events.delta(self._job_id, self._index, self._attempt, text, fresh=fresh)
        except Exception as exc:
            self._broken = True
            log.warning(
                "job %s %s: delta write failed (%s); no more text published for this call",
                self._job_id,
                "synthesis" if self._index is None else f"subtask {self._index}",
                type(exc).__name__,
            )
