"""tests.support.waiting: a child that goes quiet ends the wait at its deadline, not never."""

from __future__ import annotations

import os
import time

import pytest

from tests.support.waiting import LineWaiter, wait_until


def test_a_quiet_child_times_out_at_the_deadline_instead_of_blocking() -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(read_end) as stream, os.fdopen(write_end, "w") as writer:
        writer.write("starting\n")
        writer.flush()  # then nothing more, and the pipe stays open
        waiter = LineWaiter(stream)
        started = time.monotonic()
        with pytest.raises(AssertionError, match="waiting for ready: \\['starting\\\\n'\\]"):
            waiter.wait_for(lambda line: "ready" in line, timeout_s=0.3, what="ready")
        assert time.monotonic() - started < 1


def test_the_line_wanted_is_returned_and_an_ended_output_fails_at_once() -> None:
    read_end, write_end = os.pipe()
    with os.fdopen(read_end) as stream:
        with os.fdopen(write_end, "w") as writer:
            writer.write("noise\nlistening on 1\n")
        waiter = LineWaiter(stream)
        found = waiter.wait_for(lambda line: "listening" in line, timeout_s=5, what="listening")
        assert found == "listening on 1\n"
        started = time.monotonic()
        with pytest.raises(AssertionError, match="output ended before more"):
            waiter.wait_for(lambda line: False, timeout_s=5, what="more")
        assert time.monotonic() - started < 1


def test_wait_until_says_how_far_things_got_at_the_deadline() -> None:
    polls: list[float] = []

    def never() -> bool:
        polls.append(time.monotonic())
        return False

    with pytest.raises(AssertionError, match=r"timed out after 0s waiting for \d+ polls"):
        wait_until(never, timeout_s=0.2, every_s=0.05, what=lambda: f"{len(polls)} polls")
    assert polls[-1] - polls[0] <= 0.5  # no poll long after the deadline
