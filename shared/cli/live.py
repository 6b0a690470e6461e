"""`chorus submit --follow --live all|N`: the workers' text on stdout as it is written.

Progress (planned, each subtask's start and end) goes to stderr; the text goes to stdout
untouched (no markup is read in it: it is the model's output). With several subtasks
writing at once, `all` prints a header each time the text switches to another subtask.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rich.console import Console

from chorus.contract import limits
from chorus.contract.events import EventKind, JobEvent
from chorus.contract.models import JobRecord
from chorus.errors import JobTimeout
from chorus.store.events import JobEvents
from chorus.store.jobs import JobStore

ALL = "all"


def parse_focus(value: str) -> int | None:
    """None for `all`, else the subtask index; ValueError naming what is accepted."""
    if value == ALL:
        return None
    if value.isdigit() and int(value) < limits.HARD_MAX_SUBTASKS:
        return int(value)
    raise ValueError(
        f"--live takes 'all' or a subtask index from 0 to {limits.HARD_MAX_SUBTASKS - 1}"
    )


class LiveText:
    """Turns a job's events into text on `out` and progress lines on `err`."""

    def __init__(self, focus: int | None, out: TextIO, err: Console) -> None:
        self.focus, self.out, self.err = focus, out, err
        self.showing: object = None  # whose text was printed last: an index or "synthesis"

    def _shown(self, index: int | None) -> bool:
        return self.focus is None or index == self.focus

    def event(self, event: JobEvent) -> None:
        data = event.data
        index = data.get("index")
        if event.kind is EventKind.SUBTASK_DELTA:
            who = "synthesis" if data.get("synthesis") else index
            if who == "synthesis" and self.focus is not None:
                return
            if who != "synthesis" and not self._shown(index):
                return
            if who != self.showing:
                self._break()
                self.err.print(f"[bold]── {self._label(who, data)} ──[/bold]")
                self.showing = who
            self.out.write(str(data.get("text", "")))
            self.out.flush()
        elif event.kind is EventKind.PLANNED:
            types = ", ".join(str(t) for t in data.get("types", []))
            self.err.print(f"planned {data.get('subtasks')} subtasks: {types}", markup=False)
        elif event.kind is EventKind.SUBTASK_STARTED and self._shown(index):
            attempt = int(data.get("attempt", 1))
            if attempt > 1 and self.showing == index:
                self._break()
                self.err.print(f"(subtask {index}: attempt {attempt}, its text starts again)")
                self.showing = None
        elif event.kind is EventKind.SUBTASK_FINISHED and self._shown(index):
            if self.showing == index:
                self._break()
                self.showing = None
            status = data.get("status")
            self.err.print(f"subtask {index} {data.get('type')}: {status}", markup=False)
        elif event.kind is EventKind.AWAITING_REVIEW:
            self.err.print("the plan awaits review: chorus review JOB_ID")

    @staticmethod
    def _label(who: object, data: dict[str, object]) -> str:
        if who == "synthesis":
            return "synthesis"
        return f"subtask {who} (attempt {data.get('attempt', 1)})"

    def end(self) -> None:
        self._break()

    def _break(self) -> None:
        if self.showing is not None:
            self.out.write("\n")
            self.out.flush()


def follow_live(
    store: JobStore,
    events: JobEvents,
    job_id: str,
    *,
    focus: int | None,
    timeout_s: float,
    err: Console,
    out: TextIO | None = None,
) -> JobRecord:
    """Print the job's text as it comes until the job is final; JobTimeout past `timeout_s`."""
    live = LiveText(focus, out or sys.stdout, err)
    deadline = time.monotonic() + timeout_s
    after = "0"
    while True:
        batch = events.read(job_id, after, block_ms=500, deltas=True)
        for event in batch:
            after = event.id
            live.event(event)
        if not batch:
            # Quiet: the job may be over (its last event was read before) or gone.
            record = store.find(job_id)
            if record is not None and record.status.is_final:
                live.end()
                return record
        if time.monotonic() >= deadline:
            record = store.find(job_id)
            status = record.status.value if record else "not yet recorded"
            raise JobTimeout(f"job {job_id} still {status} after {timeout_s:.0f}s")
