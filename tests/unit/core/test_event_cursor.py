"""The follower's cursor over a job's main stream and its delta streams, and the merge that
turns one XREAD of them all into one ordered sequence."""

from __future__ import annotations

import pytest

from chorus.core.event_cursor import PARTS, Cursor, Entry, merge


def entry(stream_id: str, name: str) -> Entry:
    return (stream_id, {"name": name})


def names(merged: list[tuple[str | None, Entry, str]]) -> list[str]:
    return [e[1]["name"] for _, e, _ in merged]


def test_a_cursor_round_trips_and_starts_at_zero() -> None:
    cursor = Cursor("17-3", {"0": "16-0", "s": "18-1", "12": "15-2"})
    assert Cursor.parse(cursor.encode()) == cursor
    assert cursor.encode() == "17-3~0:16-0~12:15-2~s:18-1"
    assert Cursor.parse(None) == Cursor.parse("") == Cursor("0", {})
    assert Cursor.parse("5-0") == Cursor("5-0", {})


@pytest.mark.parametrize(
    "text",
    ["x", "5", "5-0~", "5-0~99:1-0", "5-0~0:x", "5-0~a:1-0", "5-0 ~0:1-0", "-1-0", "5-0;0:1-0"],
)
def test_a_cursor_no_stream_gave_out_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not an event id"):
        Cursor.parse(text)


def test_positions_read_every_delta_stream_from_where_the_cursor_left_it() -> None:
    keys = {part: f"d{part}" for part in PARTS}
    streams = Cursor("9-0", {"3": "8-1"}).positions("main", keys)
    assert streams["main"] == "9-0" and streams["d3"] == "8-1"
    assert streams["d0"] == streams["ds"] == "0" and len(streams) == len(PARTS) + 1


def test_merged_entries_are_in_time_order_with_a_delta_before_a_main_event_of_its_millisecond() -> (
    None
):
    main = [entry("100-0", "started"), entry("130-0", "finished")]
    deltas = {"0": [entry("110-0", "a"), entry("130-0", "b")], "1": [entry("120-5", "c")]}
    merged = merge(Cursor(), main, deltas, count=100).entries
    assert names(merged) == ["started", "a", "c", "b", "finished"]
    cursors = [Cursor.parse(at) for _, _, at in merged]
    assert cursors[-1] == Cursor("130-0", {"0": "130-0", "1": "120-5"})
    assert cursors[1] == Cursor("100-0", {"0": "110-0"})  # each event's id resumes after it


def test_a_stream_cut_at_the_read_count_holds_back_what_may_come_after_its_last_entry() -> None:
    # The delta stream returned `count` entries: it may hold more before "finished" at 300,
    # so nothing from its last millisecond on is passed this time.
    main = [entry("100-0", "started"), entry("300-0", "finished")]
    deltas = {"0": [entry("150-0", "a"), entry("200-0", "b")]}
    merged = merge(Cursor("99-0"), main, deltas, count=2).entries
    assert names(merged) == ["started", "a"]
    assert Cursor.parse(merged[-1][2]) == Cursor("100-0", {"0": "150-0"})


def test_a_whole_read_within_one_millisecond_still_makes_progress() -> None:
    main = [entry("100-0", "x"), entry("100-1", "y")]
    merged = merge(Cursor(), main, {"0": [entry("100-0", "a")]}, count=2).entries
    assert names(merged) == ["x", "y"]
