"""Batching streamed text into `subtask_delta` writes, on a fake clock."""

from __future__ import annotations

import redis

from chorus.core.deltas import DeltaBatcher, DeltaWriter
from tests.support.standins import MemoryEvents


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_ten_thousand_chunks_in_a_second_make_about_ten_flushes_and_keep_every_character() -> None:
    clock, flushed = Clock(), list[str]()
    batcher = DeltaBatcher(flushed.append, clock, every_s=0.1)
    pieces = [f"{i % 10}" for i in range(10_000)]
    for i, piece in enumerate(pieces):
        clock.now = i / 10_000  # 10,000 pieces spread over one second
        batcher.add(piece)
    batcher.close()
    assert len(flushed) <= 12  # the first batch at 0.05 s, one per 0.1 s, then the rest
    assert "".join(flushed) == "".join(pieces)


def test_the_first_batch_goes_out_soon_after_the_first_piece_and_close_sends_what_is_left() -> None:
    clock, flushed = Clock(), list[str]()
    batcher = DeltaBatcher(flushed.append, clock, every_s=0.1, first_s=0.05)
    batcher.add("Hel")
    clock.now = 0.04
    batcher.add("l")
    assert flushed == []  # within 0.05 s of the first piece: held
    clock.now = 0.05
    batcher.add("o")
    assert flushed == ["Hello"]
    batcher.add("")
    clock.now = 0.14
    batcher.add(", ")
    assert flushed == ["Hello"]  # within 0.1 s of the last flush: held
    clock.now = 0.16
    batcher.add("w")
    assert flushed == ["Hello", ", w"]
    batcher.close()
    batcher.close()
    assert flushed == ["Hello", ", w"]  # nothing left: no empty batch


def test_a_reply_written_faster_than_the_first_wait_is_one_write() -> None:
    clock, flushed = Clock(), list[str]()
    batcher = DeltaBatcher(flushed.append, clock, every_s=0.1, first_s=0.05)
    for i in range(40):
        clock.now = i * 0.001
        batcher.add(f"{i} ")
    batcher.close()
    assert flushed == ["".join(f"{i} " for i in range(40))]


def test_a_slow_stream_flushes_every_piece() -> None:
    clock, flushed = Clock(), list[str]()
    batcher = DeltaBatcher(flushed.append, clock, every_s=0.1)
    for i in range(5):
        clock.now = i * 0.5
        batcher.add(str(i))
    batcher.close()
    # The first piece waits for the second (nothing flushes between pieces), the rest go one
    # by one.
    assert flushed == ["01", "2", "3", "4"]


def test_a_failed_delta_write_is_logged_once_and_the_rest_of_the_call_is_not_published() -> None:
    events = MemoryEvents()
    events.delta_error = redis.ConnectionError("gone")
    clock = Clock()
    writer = DeltaWriter(events, "job-1", 0, 1, clock)
    for i in range(50):
        clock.now = i * 0.2  # each piece would be its own batch
        writer(f"piece {i} ")
    writer.close()
    assert events.delta_writes == 1  # no write tried after the first failure, none raised
    writer.drop()
    assert events.dropped[-1] == ("job-1", 0)


def test_a_call_starts_its_text_afresh_over_what_a_killed_worker_left() -> None:
    events, clock = MemoryEvents(), Clock()
    events.delta("job-1", 0, 1, "half a repl")  # the killed worker's, same attempt number
    writer = DeltaWriter(events, "job-1", 0, 1, clock)
    writer("the whole reply")
    writer.close()
    assert events.delta_text("job-1", 0) == "the whole reply"


def test_a_writer_tags_its_batches_with_the_subtask_and_attempt() -> None:
    events, clock = MemoryEvents(), Clock()
    writer = DeltaWriter(events, "job-1", None, 2, clock)
    writer("a")
    clock.now = 0.06
    writer("b")
    writer("c")
    writer.close()
    assert events.deltas == {("job-1", None): [(2, "ab"), (2, "c")]}
