"""Where a follower is in a job's events: its main stream and each subtask's delta stream.

A job's progress events live in one Redis Stream; the text a worker writes (`subtask_delta`)
lives in one short-lived stream per subtask (and one for the synthesis), so the main stream
and the memory of a finished job stay what they are without streaming. A follower reads them
all in one XREAD and sees one sequence, ordered by time, each event carrying a cursor (its SSE
`id`) that resumes after it: `<main id>` followed by `~<part>:<id>` for each delta stream
read so far, e.g. `1718000000000-3~0:1718000000100-0~s:1718000000200-1`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from chorus.contract import limits

SYNTHESIS_PART = "s"
# Every delta stream a job can have: one per possible subtask index, and the synthesis.
PARTS: tuple[str, ...] = (*(str(i) for i in range(limits.HARD_MAX_SUBTASKS)), SYNTHESIS_PART)

_STREAM_ID = r"(?:0|\d{1,20}-\d{1,20})"
_PART = rf"(?:\d{{1,2}}|{SYNTHESIS_PART})"
CURSOR_PATTERN = rf"^{_STREAM_ID}(?:~{_PART}:{_STREAM_ID}){{0,{len(PARTS)}}}$"
_CURSOR_RE = re.compile(CURSOR_PATTERN)

# (stream id, fields) as XREAD returns them.
Entry = tuple[str, Mapping[str, str]]


@dataclass(frozen=True)
class Cursor:
    main: str = "0"
    deltas: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        """The cursor an event id names; ValueError for one no stream gave out."""
        if not text:
            return cls()
        if not _CURSOR_RE.fullmatch(text):
            raise ValueError("not an event id from this job's stream")
        main, *rest = text.split("~")
        deltas = dict(item.split(":", 1) for item in rest)
        if any(part not in PARTS for part in deltas):
            raise ValueError("not an event id from this job's stream")
        return cls(main, deltas)

    def encode(self) -> str:
        return self.main + "".join(f"~{p}:{i}" for p, i in sorted(self.deltas.items()))

    def positions(self, main_key: str, delta_keys: Mapping[str, str]) -> dict[str, str]:
        """The XREAD `streams` argument: each key and the id to read after."""
        streams = {main_key: self.main}
        for part, key in delta_keys.items():
            streams[key] = self.deltas.get(part, "0")
        return streams


def _ms(stream_id: str) -> int:
    return int(stream_id.partition("-")[0])


def _seq(stream_id: str) -> int:
    return int(stream_id.partition("-")[2] or 0)


@dataclass(frozen=True)
class Merged:
    """Entries from every stream in time order: (part or None for the main stream, entry,
    the cursor after it)."""

    entries: list[tuple[str | None, Entry, str]]


def merge(
    cursor: Cursor,
    main: Sequence[Entry],
    deltas: Mapping[str, Sequence[Entry]],
    count: int,
) -> Merged:
    """One ordered sequence of what an XREAD (COUNT `count` per stream) returned.

    A worker writes its last delta before it records the result that announces
    `subtask_finished`, so within a millisecond a delta sorts before a main event. A stream
    that returned `count` entries may hold more: nothing from the millisecond of its last entry
    on is passed this time (it is read again next time), so a subtask's unread deltas can
    never be overtaken by its `subtask_finished`."""
    tagged: list[tuple[tuple[int, int, int], str | None, Entry]] = [
        ((_ms(e[0]), 1, _seq(e[0])), None, e) for e in main
    ]
    for part, entries in deltas.items():
        tagged.extend(((_ms(e[0]), 0, _seq(e[0])), part, e) for e in entries)
    # Streams that may hold more than they returned, and the millisecond of their last entry.
    full: dict[str | None, int] = {None: _ms(main[-1][0])} if len(main) >= count else {}
    full |= {p: _ms(e[-1][0]) for p, e in deltas.items() if len(e) >= count}
    horizon = min(full.values(), default=None)
    tagged.sort(key=lambda t: t[0])
    if horizon is not None:
        kept = [t for t in tagged if t[0][0] < horizon]
        # A whole read within one millisecond: pass on the full streams' entries to progress.
        tagged = kept or [t for t in tagged if t[1] in full and t[0][0] == horizon]
    main_at, delta_at = cursor.main, dict(cursor.deltas)
    out: list[tuple[str | None, Entry, str]] = []
    for _, source, entry in tagged:
        if source is None:
            main_at = entry[0]
        else:
            delta_at[source] = entry[0]
        out.append((source, entry, Cursor(main_at, dict(delta_at)).encode()))
    return Merged(out)
