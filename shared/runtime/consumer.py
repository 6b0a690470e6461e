"""The Celery consumer of a Chorus process (`worker_consumer`): Celery's own, with its task
events sent in batches.

A worker sends three events per task (received, started, succeeded). Celery buffers them and
asks its event loop to flush as soon as one is buffered, so a busy worker publishes a message,
and wakes its loop from a pool thread, for nearly every event: about a tenth of a busy
worker's CPU, in the thread that also starts every task. Here a flush is due at most every
`EVENT_FLUSH_S`; Flower sees each event that much later at most. Celery's own limit still
flushes a full buffer at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from celery.worker.consumer import Consumer

from chorus.contract import limits


class FlushPacer:
    """When buffered events are flushed: at once if the last flush is `interval_s` old, else
    when it will be; one flush pending at a time, however many events ask."""

    def __init__(
        self,
        flush: Callable[[], None],
        call_later: Callable[[float, Callable[[], None]], object],
        *,
        interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._flush = flush
        self._call_later = call_later
        self._interval_s = interval_s
        self._clock = clock
        self._last = float("-inf")
        self.due = False  # a flush is asked for and has not started yet

    def ask(self) -> bool:
        """An event was buffered (any thread): whether the loop must be asked to `plan`."""
        if self.due:
            return False
        self.due = True
        return True

    def plan(self) -> None:
        """In the event loop: flush now, or once the interval since the last flush is over."""
        wait = self._last + self._interval_s - self._clock()
        if wait > 0:
            self._call_later(wait, self.flush_now)
        else:
            self.flush_now()

    def flush_now(self) -> None:
        # Cleared first: an event buffered from here on asks again, so none waits unflushed;
        # one buffered before is in the buffer this flush reads.
        self.due = False
        self._last = self._clock()
        self._flush()


class ChorusConsumer(Consumer):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        hub = self.hub  # None without an event loop: Celery then buffers no events at all
        self._pacer = (
            FlushPacer(self._flush_events, hub.call_later, interval_s=limits.EVENT_FLUSH_S)
            if hub
            else None
        )

    def on_send_event_buffered(self) -> None:
        if self._pacer is not None and self._pacer.ask():
            # call_soon is Celery's thread-safe way into the loop; the timer is not.
            self.hub.call_soon(self._pacer.plan)
