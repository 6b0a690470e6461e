"""Model calls in flight, each on a connection pool of its own.

httpcore's pool re-plans every connection it holds each time a request starts or a response
closes (`_assign_requests_to_connections`, under one lock). With 1,000 calls in flight in one
worker process that is two passes over 1,000 connections per call: a quarter of the worker's
CPU, measured with py-spy (`--gil`), all of it spent while the process holds the GIL.

Here each request checks out a lane (a one-connection pool) and hands it back when its
response closes, so a pass sees one connection. Idle lanes are kept last-in first-out, so the
warmest connection is reused first; at most `max_keepalive` idle lanes are kept, none past the
keep-alive expiry, and at most `max_connections` are busy at once, as httpcore would. The
TLS context is built once: building one loads the CA bundle (about 20 ms of CPU).
"""

from __future__ import annotations

import math
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import httpx2

SocketOption = tuple[int, int, int | bool]


class RequestLanes(httpx2.BaseTransport):
    def __init__(
        self,
        limits: httpx2.Limits,
        *,
        verify: bool = True,
        socket_options: list[SocketOption] | None = None,
    ) -> None:
        self._ssl = httpx2.create_ssl_context(verify=verify)
        self._lane_limits = httpx2.Limits(
            max_connections=1, max_keepalive_connections=1, keepalive_expiry=limits.keepalive_expiry
        )
        self._socket_options = socket_options if socket_options is not None else keepalive_probes()
        # httpx's None: no limit.
        self._max_busy = _bound(limits.max_connections)
        self._max_idle = _bound(limits.max_keepalive_connections)
        self._expiry_s = limits.keepalive_expiry
        # Oldest first, with the time each was handed back.
        self._idle: deque[tuple[httpx2.HTTPTransport, float]] = deque()
        self._busy = 0
        self._waiting = 0
        self._closed = False
        self._changed = threading.Condition()

    @property
    def busy(self) -> int:
        return self._busy

    @property
    def idle(self) -> int:
        return len(self._idle)

    @property
    def waiting(self) -> int:
        """Requests waiting for a lane (all `max_connections` busy)."""
        return self._waiting

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        lane = self._checkout(_pool_timeout(request))
        try:
            response = lane.handle_request(request)
        except BaseException:
            self.give_back(lane)
            raise
        assert isinstance(response.stream, httpx2.SyncByteStream)
        response.stream = _LaneStream(response.stream, self, lane)
        return response

    def close(self) -> None:
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, deque()
        for lane, _ in idle:
            lane.close()

    def _checkout(self, timeout_s: float | None) -> httpx2.HTTPTransport:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._changed:
            while self._busy >= self._max_busy:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise httpx2.PoolTimeout(f"all {self._max_busy:g} connections stayed busy")
                self._waiting += 1
                try:
                    self._changed.wait(left)
                finally:
                    self._waiting -= 1
            self._busy += 1
            if self._idle:
                return self._idle.pop()[0]
        try:
            return httpx2.HTTPTransport(
                verify=self._ssl, limits=self._lane_limits, socket_options=self._socket_options
            )
        except BaseException:
            self.give_back(None)
            raise

    def give_back(self, lane: httpx2.HTTPTransport | None) -> None:
        """A lane whose request is over (None: one that was never built)."""
        surplus = [] if lane is None else [lane]
        now = time.monotonic()
        with self._changed:
            self._busy -= 1
            if lane is not None and not self._closed and len(self._idle) < self._max_idle:
                self._idle.append((lane, now))
                surplus.clear()
            # Lanes idle past the keep-alive expiry, oldest first: their connection would be
            # found expired at its next use anyway, and meanwhile holds a socket open.
            while self._idle and self._expired(self._idle[0][1], now):
                surplus.append(self._idle.popleft()[0])
            self._changed.notify()
        for idle in surplus:  # closed outside the lock: closing a socket can block
            idle.close()

    def _expired(self, since: float, now: float) -> bool:
        return self._expiry_s is not None and now - since > self._expiry_s


class _LaneStream(httpx2.SyncByteStream):
    """The response body; closing it hands the lane back, once."""

    def __init__(
        self, inner: httpx2.SyncByteStream, lanes: RequestLanes, lane: httpx2.HTTPTransport
    ) -> None:
        self._inner = inner
        self._lanes: RequestLanes | None = lanes
        self._lane = lane

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._inner)  # no generator of its own: this runs for every chunk

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            lanes, self._lanes = self._lanes, None
            if lanes is not None:
                lanes.give_back(self._lane)


def _bound(limit: int | None) -> float:
    return math.inf if limit is None else limit


def _pool_timeout(request: httpx2.Request) -> float | None:
    timeout: dict[str, Any] = request.extensions.get("timeout", {})
    pool = timeout.get("pool")
    return float(pool) if pool is not None else None


def keepalive_probes() -> list[SocketOption]:
    """TCP keep-alive every 60 s, as the SDK's own client sets it: a long call through a NAT
    or a load balancer would otherwise lose its connection while the model thinks."""
    options: list[SocketOption] = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, True)]
    for name, value in (("TCP_KEEPINTVL", 60), ("TCP_KEEPCNT", 5), ("TCP_KEEPIDLE", 60)):
        option = getattr(socket, name, None)
        if option is not None:
            options.append((socket.IPPROTO_TCP, option, value))
    return options
