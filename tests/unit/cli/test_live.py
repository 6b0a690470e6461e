"""`chorus submit --live`: which text reaches stdout, and what is said on stderr."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from chorus.cli.live import LiveText, parse_focus
from chorus.contract.events import EventKind, JobEvent


def ev(kind: EventKind, **data: object) -> JobEvent:
    return JobEvent(id="1-0", kind=kind, data=data)


def run(focus: int | None, *events: JobEvent) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    live = LiveText(focus, out, Console(file=err, width=200))
    for event in events:
        live.event(event)
    live.end()
    return out.getvalue(), err.getvalue()


def test_all_prints_every_subtasks_text_with_a_header_at_each_switch() -> None:
    text, said = run(
        None,
        ev(EventKind.SUBTASK_DELTA, index=0, attempt=1, text="Hello "),
        ev(EventKind.SUBTASK_DELTA, index=1, attempt=1, text="[bold]x[/bold]"),
        ev(EventKind.SUBTASK_DELTA, index=0, attempt=1, text="world"),
        ev(EventKind.SUBTASK_FINISHED, index=0, type="a", status="succeeded"),
    )
    assert text == "Hello \n[bold]x[/bold]\nworld\n"  # model text is printed as it is
    assert said.count("── subtask 0") == 2 and "── subtask 1" in said
    assert "subtask 0 a: succeeded" in said


def test_a_focus_shows_one_subtask_and_a_retry_starts_its_text_again() -> None:
    text, said = run(
        1,
        ev(EventKind.SUBTASK_DELTA, index=0, attempt=1, text="not shown"),
        ev(EventKind.SUBTASK_DELTA, index=1, attempt=1, text="partial"),
        ev(EventKind.SUBTASK_STARTED, index=1, type="b", attempt=2),
        ev(EventKind.SUBTASK_DELTA, index=1, attempt=2, text="whole"),
        ev(EventKind.SUBTASK_DELTA, index=None, synthesis=True, attempt=1, text="syn"),
    )
    assert "not shown" not in text and "syn" not in text
    assert text == "partial\nwhole\n"
    assert "attempt 2, its text starts again" in said


@pytest.mark.parametrize(("value", "focus"), [("all", None), ("0", 0), ("19", 19)])
def test_live_takes_all_or_an_index(value: str, focus: int | None) -> None:
    assert parse_focus(value) == focus


@pytest.mark.parametrize("value", ["20", "-1", "first", ""])
def test_anything_else_is_refused_saying_what_is_accepted(value: str) -> None:
    with pytest.raises(ValueError, match="'all' or a subtask index from 0 to 19"):
        parse_focus(value)
