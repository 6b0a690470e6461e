"""`retrying`: a RetryLater becomes Celery's retry, and a retry that cannot be sent (Redis
refusing writes: Celery's `Reject(requeue=False)` would drop the message) is sent again,
with growing pauses, until it goes out or `result_save_cap_s` has passed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from celery.exceptions import Reject, Retry

from chorus.errors import RetryLater
from chorus.runtime.retrying import retrying

CAP_S = 30.0


class Task:
    """Celery's task as `retrying` uses it: `retry` raises Retry once sent, Reject when the
    message could not be published (the first `refusals` times)."""

    def __init__(self, refusals: int) -> None:
        self.app = SimpleNamespace(settings=SimpleNamespace(result_save_cap_s=CAP_S))
        self.refusals = refusals
        self.calls: list[dict[str, Any]] = []

    def retry(self, **options: Any) -> Retry:
        self.calls.append(options)
        if len(self.calls) <= self.refusals:
            raise Reject("OOM command not allowed", requeue=False)
        raise Retry(when=options["countdown"])


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def _run(task: Task, clock: Clock) -> None:
    with retrying(task, sleep=clock.sleep, clock=lambda: clock.now):
        raise RetryLater(7.0, "store unavailable", kwargs={"attempts_made": 1})


def test_a_retry_later_becomes_celerys_retry_with_its_countdown_and_kwargs() -> None:
    task, clock = Task(refusals=0), Clock()
    with pytest.raises(Retry):
        _run(task, clock)
    assert task.calls[0]["countdown"] == 7.0 and task.calls[0]["kwargs"] == {"attempts_made": 1}
    assert clock.pauses == []


def test_a_retry_that_cannot_be_sent_is_sent_again_until_it_goes_out() -> None:
    task, clock = Task(refusals=5), Clock()
    with pytest.raises(Retry):
        _run(task, clock)
    assert len(task.calls) == 6
    assert clock.pauses == [0.5, 1.0, 2.0, 4.0, 5.0]


def test_past_the_cap_the_refusal_stands() -> None:
    task, clock = Task(refusals=10_000), Clock()
    with pytest.raises(Reject):
        _run(task, clock)
    assert CAP_S <= clock.now < CAP_S + 5.0


def test_task_logic_that_ends_normally_is_untouched() -> None:
    task = Task(refusals=0)
    with retrying(task):
        pass
    assert task.calls == []
