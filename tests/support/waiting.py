"""Waiting under a deadline: a condition polled (`wait_until`), or a child process's output
(`LineWaiter`). A bare `readline()` in a polled condition blocks until the child writes a
line, so a child that goes quiet would hang the test past any deadline; there a thread reads,
and the waiter only ever blocks on a queue for the time it has left."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO


def wait_until(
    check: Callable[[], bool],
    *,
    timeout_s: float,
    what: str | Callable[[], str],
    every_s: float = 0.05,
) -> None:
    """Poll `check` every `every_s` until it is true; at the deadline fail the test with
    `what` (a callable is asked then, so the message can say how far things got). Like
    `chorus.devstack.stack.wait_until`, with a poll interval for expensive checks."""
    deadline = time.monotonic() + timeout_s
    while True:
        if check():
            return
        left = deadline - time.monotonic()
        if left <= 0:
            said = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {said}")
        time.sleep(min(every_s, left))  # the poll interval, not a synchronisation


class LineWaiter:
    """Lines of `stream` as they arrive, read by a daemon thread (it ends at end of file)."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)  # end of file: the child closed its output

    def wait_for(self, wanted: Callable[[str], bool], *, timeout_s: float, what: str) -> str:
        """The first line from now on for which `wanted` is true; AssertionError naming
        `what` (and the lines seen) at the deadline or when the output ends first."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                raise AssertionError(f"output ended before {what}: {self.seen[-5:]}")
            self.seen.append(line)
            if wanted(line):
                return line
        last = self.seen[-5:]
        raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}: {last}")


def connections_to(port: int) -> int:
    """Open TCP connections from this machine to `port` on loopback (Linux /proc/net): how a
    test sees that concurrent requests have reached a server before it measures under them."""
    established = "01"
    count = 0
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        if not table.exists():
            continue
        for row in table.read_text().splitlines()[1:]:
            fields = row.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            count += remote_port == port and fields[3] == established
    return count
