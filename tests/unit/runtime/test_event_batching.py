"""Task events leave in batches (`chorus.runtime.consumer.FlushPacer`): one flush pending at
a time, at most one per interval, and no event left behind a flush that has started; the
task-sent events of the tasks a process sends join them (`SentEvents`) when they can."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chorus.runtime.consumer import FlushPacer, SentEvents

INTERVAL_S = 0.05


class Loop:
    """The event loop's timer, on a clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0
        self.timers: list[tuple[float, Callable[[], None]]] = []

    def call_later(self, delay: float, callback: Callable[[], None]) -> object:
        self.timers.append((self.now + delay, callback))
        return object()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [t for t in self.timers if t[0] <= self.now]
        self.timers = [t for t in self.timers if t[0] > self.now]
        for _, callback in due:
            callback()


def _pacer() -> tuple[FlushPacer, Loop, list[float]]:
    loop = Loop()
    flushes: list[float] = []
    pacer = FlushPacer(
        lambda: flushes.append(loop.now),
        loop.call_later,
        interval_s=INTERVAL_S,
        clock=lambda: loop.now,
    )
    return pacer, loop, flushes


def test_the_first_event_is_flushed_at_once() -> None:
    pacer, _, flushes = _pacer()
    assert pacer.ask()
    pacer.plan()
    assert flushes == [100.0] and not pacer.due


def test_events_while_a_flush_is_pending_ask_nothing_more() -> None:
    pacer, loop, flushes = _pacer()
    pacer.ask()
    pacer.plan()  # flushed at 100.0
    assert pacer.ask()  # the next event plans one flush
    pacer.plan()
    assert [pacer.ask() for _ in range(50)] == [False] * 50
    assert flushes == [100.0] and len(loop.timers) == 1
    loop.advance(INTERVAL_S)
    assert flushes == [100.0, 100.0 + INTERVAL_S]


def test_a_flush_waits_out_the_interval_since_the_last() -> None:
    pacer, loop, flushes = _pacer()
    pacer.ask()
    pacer.plan()
    loop.advance(0.02)
    pacer.ask()
    pacer.plan()
    assert flushes == [100.0]
    loop.advance(0.02)
    assert flushes == [100.0]
    loop.advance(0.01)
    assert flushes == [100.0, 100.05]


def test_an_event_after_a_flush_began_asks_for_another() -> None:
    loop = Loop()
    seen: list[bool] = []
    # An event buffered by another thread while the flush runs must not be left waiting.
    pacer = FlushPacer(
        lambda: seen.append(pacer.ask()),
        loop.call_later,
        interval_s=INTERVAL_S,
        clock=lambda: loop.now,
    )
    pacer.ask()
    pacer.plan()
    assert seen == [True]


def test_an_idle_pacer_flushes_an_event_at_once_after_the_interval() -> None:
    pacer, loop, flushes = _pacer()
    pacer.ask()
    pacer.plan()
    loop.advance(1.0)
    pacer.ask()
    pacer.plan()
    assert flushes == [100.0, 101.0] and loop.timers == []


class Dispatcher:
    """The parts of Celery's EventDispatcher `SentEvents` reads."""

    def __init__(self, *, enabled: bool = True, groups: set[str] | None = None,
                 buffer_group: frozenset[str] = frozenset({"task"})) -> None:  # fmt: skip
        self.enabled, self.groups, self.buffer_group = enabled, groups, buffer_group
        self.sent: list[tuple[str, dict[str, object]]] = []

    def send(self, type: str, **fields: object) -> None:
        self.sent.append((type, fields))


class Consumer:
    def __init__(self, dispatcher: Dispatcher | None) -> None:
        self.event_dispatcher = dispatcher


@pytest.mark.parametrize(
    ("dispatcher", "ready"),
    [
        (None, False),  # before the consumer's Events step built one
        (Dispatcher(enabled=False), False),
        (Dispatcher(buffer_group=frozenset()), False),  # no event loop: nothing is buffered
        (Dispatcher(groups={"worker"}), False),  # it would drop task events
        (Dispatcher(groups={"task", "worker"}), True),
        (Dispatcher(groups=None), True),
    ],
)
def test_sent_events_take_the_consumers_batch_only_when_it_buffers_them(
    dispatcher: Dispatcher | None, ready: bool
) -> None:
    assert SentEvents(Consumer(dispatcher)).ready() is ready


def test_a_sent_event_is_handed_to_the_consumers_dispatcher() -> None:
    dispatcher = Dispatcher()
    consumer = Consumer(dispatcher)
    SentEvents(consumer).publish("task-sent", {"uuid": "u1", "name": "n"}, producer=object())
    assert dispatcher.sent == [("task-sent", {"uuid": "u1", "name": "n"})]
    consumer.event_dispatcher = later = Dispatcher()  # rebuilt after a reconnect
    SentEvents(consumer).publish("task-sent", {"uuid": "u2"}, producer=object())
    assert later.sent == [("task-sent", {"uuid": "u2"})]


class Broken(Dispatcher):
    def send(self, type: str, **fields: object) -> None:
        raise ConnectionError("broker away")


@pytest.mark.parametrize("dispatcher", [None, Broken()])
def test_a_sent_event_that_cannot_be_buffered_is_dropped_never_raised(
    dispatcher: Dispatcher | None,
) -> None:
    # Called after the task's message went out: raising would make the caller send it again.
    SentEvents(Consumer(dispatcher)).publish("task-sent", {"uuid": "u1"}, producer=object())
