"""The Celery consumer of a Chorus process (`worker_consumer`): Celery's own, with its task
events sent in batches, the task-sent events of the tasks the process sends among them.

A worker sends three events per task (received, started, succeeded). Celery buffers them and
asks its event loop to flush as soon as one is buffered, so a busy worker publishes a message,
and wakes its loop from a pool thread, for nearly every event: about a tenth of a busy
worker's CPU, in the thread that also starts every task. Here a flush is due at most every
`EVENT_FLUSH_S`; Flower sees each event that much later at most. Celery's own limit still
flushes a full buffer at once.

The tasks a process sends (an orchestrator's chords: five subtasks a job, and a worker's
chord callbacks) each have a task-sent event too, which Celery publishes on its own, one
message and one Redis round trip each, in the sending thread. `SentEvents` hands them to the
same buffer (`ChorusCelery.send_task`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from celery.worker.consumer import Consumer

from chorus.contract import limits

log = logging.getLogger(__name__)


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


class SentEvents:
    """What `send_task_message` calls with a task-sent event (`publish`), adding it to the
    consumer's buffered task events. `ready()`: whether it can now; if not (no dispatcher yet,
    or one that would not buffer or would drop task events), the caller leaves Celery's own
    dispatcher in place, which publishes at once."""

    def __init__(self, consumer: Any) -> None:
        self._consumer = consumer

    def ready(self) -> bool:
        # Looked up each time: the consumer builds a new dispatcher after a reconnect.
        dispatcher = getattr(self._consumer, "event_dispatcher", None)
        if dispatcher is None or not dispatcher.enabled:
            return False
        groups = dispatcher.groups
        return TASK_GROUP in dispatcher.buffer_group and (not groups or TASK_GROUP in groups)

    def publish(self, event_type: str, fields: dict[str, Any], producer: Any, **_: Any) -> None:
        """Celery's `EventDispatcher.publish` signature; the producer and retry options are
        the sender's, not needed here: the consumer's dispatcher publishes the batch. Called
        once the task's message is sent: an event for Flower must not fail the send (the
        caller would send the task again), so a dispatcher gone meanwhile drops the event."""
        dispatcher = getattr(self._consumer, "event_dispatcher", None)
        if dispatcher is None:
            log.debug("task-sent event dropped: the consumer's dispatcher is being rebuilt")
            return
        try:
            dispatcher.send(event_type, **fields)
        except Exception as exc:
            log.warning("task-sent event dropped: %s", type(exc).__name__)


TASK_GROUP = "task"


class ChorusConsumer(Consumer):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        hub = self.hub  # None without an event loop: Celery then buffers no events at all
        self._pacer = (
            FlushPacer(self._flush_events, hub.call_later, interval_s=limits.EVENT_FLUSH_S)
            if hub
            else None
        )
        self.app.sent_events = SentEvents(self)

    def on_send_event_buffered(self) -> None:
        if self._pacer is not None and self._pacer.ask():
            # call_soon is Celery's thread-safe way into the loop; the timer is not.
            self.hub.call_soon(self._pacer.plan)
