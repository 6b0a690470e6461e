"""The Python client of the Chorus HTTP API: `Client` (blocking) and `AsyncClient` (asyncio).

    with Client("http://127.0.0.1:8000", token="...") as client:
        job_id = client.submit("Explain {x} in Python", options={"max_subtasks": 3})
        record = client.wait(job_id)  # follows the job's events, then reads its record

The surface (`_Api`) is written once here; requests and their answers (`Call`), Server-Sent
Events (`parse_event`) and reconnecting (`Follower`) once in `chorus.client.wire`; each client
only does its I/O. Every failure
is a `chorus.errors.ChorusError`: JobNotFound (a 404 about one job), InvalidRequest (422),
ApiError (any other error status), ApiUnavailable (the API cannot be reached) and JobTimeout
(`wait` reached its deadline). The token only ever travels as a bearer header: it is never part
of an error message or a repr. This module imports neither Celery nor FastAPI nor anthropic.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import aclosing, closing
from typing import Any, Final, Generic, Self, TypeVar, cast

import httpx

import chorus.errors as errors
from chorus.client.wire import (
    Call,
    Follower,
    JobPage,
    accepted,
    retry_call,
    review_call,
    unavailable,
)
from chorus.contract.events import JobEvent
from chorus.contract.models import JobRecord, JobStatus, job_id_problem

__all__ = ["DEFAULT_API_URL", "AsyncClient", "Client", "JobPage"]

DEFAULT_API_URL: Final = "http://127.0.0.1:8000"
T = TypeVar("T")
IdT = TypeVar("IdT")  # what a client answers: the value (Client) or an awaitable of it
RecordT = TypeVar("RecordT")
PageT = TypeVar("PageT")
EventsT = TypeVar("EventsT")


class _Api(Generic[IdT, RecordT, PageT, EventsT]):
    """The API's surface, written once: `Client` answers with values, `AsyncClient` with
    awaitables and an async iterator of events. Methods raise `ChorusError`s only."""

    _send: Callable[..., Any]  # the I/O, in each client
    _follow: Callable[[Follower], Any]
    _wait: Callable[[Follower], Any]

    def __init__(self, base_url: str | None, token: str | None, timeout_s: float) -> None:
        url = (base_url or os.environ.get("CHORUS_API_URL") or DEFAULT_API_URL).strip()
        token = token if token is not None else os.environ.get("CHORUS_API_TOKEN")
        if not re.match(r"https?://[^/]", url):
            raise errors.ConfigError("the Chorus API URL must start with http:// or https://")
        if token and not re.fullmatch(r"[\x21-\x7e]+", token):
            raise errors.ConfigError("the API token must be printable ASCII without spaces")
        if not timeout_s > 0:
            raise errors.ConfigError(f"timeout_s must be above 0, not {timeout_s!r}")
        headers = {"Accept": "application/json", "User-Agent": "chorus-python-client"}
        headers |= {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url, self.timeout_s = url.rstrip("/"), timeout_s
        self._settings: dict[str, Any] = {
            "base_url": self.base_url,
            "headers": headers,
            "timeout": timeout_s,
        }

    def __repr__(self) -> str:
        shown = str(httpx.URL(self.base_url).copy_with(userinfo=b""))
        return f"{type(self).__name__}(base_url={shown!r})"

    def submit(
        self, task: str, *, context: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None, job_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> IdT:  # fmt: skip
        """Submit a job; returns its id. The same body again under the same `idempotency_key`
        is the same job (another body under that key: ApiError 409)."""
        if job_id is not None and (problem := job_id_problem(job_id)) is not None:
            raise errors.InvalidRequest(problem)  # as the API would answer, without asking it
        given = {"task": task, "context": context, "options": options, "job_id": job_id}
        try:
            body = json.dumps({k: v for k, v in given.items() if v is not None}, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise errors.InvalidRequest(f"the job request must be plain JSON ({exc})") from None
        key = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else {}
        headers = {"Content-Type": "application/json", **key}
        call = Call("POST", "/v1/jobs", accepted, content=body.encode(), headers=headers)
        return cast(IdT, self._send(call))

    def get(self, job_id: str) -> RecordT:
        """The job's record."""
        return cast(RecordT, self._send(Call.job(job_id)))

    def list(
        self, *, status: JobStatus | str | None = None, limit: int = 20, cursor: str | None = None
    ) -> PageT:
        """One page of this tenant's jobs, newest first."""
        given = {"status": status, "limit": limit, "cursor": cursor}
        params = {k: v for k, v in given.items() if v is not None}
        return cast(
            PageT, self._send(Call("GET", "/v1/jobs", JobPage.model_validate, params=params))
        )

    def cancel(self, job_id: str) -> RecordT:
        """Cancel the job; a job already over is returned as it is."""
        # An empty body, with its length: the API asks every POST for a Content-Length.
        call = Call.job(job_id, "/cancel", method="POST", content=b"")
        return cast(RecordT, self._send(call))

    def review(
        self, job_id: str, *, approve: bool = False, plan: Mapping[str, Any] | None = None,
        reject: bool = False, reason: str | None = None,
    ) -> RecordT:  # fmt: skip
        """Answer a plan awaiting review (options.review_plan) with one of `approve=True`, an
        edited `plan` ({"subtasks": [{"type", "description"}, ...]}) or `reject=True` (with a
        `reason`); returns the record, running or cancelled. ApiError 409 when the job is not
        awaiting review; InvalidRequest naming the rule an edited plan breaks."""
        call = review_call(job_id, approve, plan, reject, reason)
        return cast(RecordT, self._send(call))

    def retry(
        self, job_id: str, *, options: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> RecordT:  # fmt: skip
        """Run the job's failed and skipped subtasks again, as a new run (`options` may raise
        max_total_tokens, max_cost_usd, deadline_s); returns the record, now running. The
        same `idempotency_key` again answers with that run; ApiError 409 when the job is not
        final or has nothing to retry."""
        return cast(RecordT, self._send(retry_call(job_id, options, idempotency_key)))

    def events(
        self, job_id: str, *, last_event_id: str | None = None, deltas: bool = True
    ) -> EventsT:
        """The job's events in order, up to its last one and the end of the stream (the job
        is over and nothing more is to come), the workers' text as `subtask_delta` events
        unless `deltas=False`. A lost connection is reopened after the last event seen; pass
        `last_event_id` to resume after that event."""
        return cast(EventsT, self._follow(self._follower(job_id, last_event_id, deltas)))

    def wait(self, job_id: str, *, timeout_s: float = 600) -> RecordT:
        """Follow the job's events until it is over, then read its record: no polling.
        JobTimeout after `timeout_s` seconds, however quiet or chatty the stream."""
        follower = self._follower(job_id, None, deltas=False)  # the record has the text
        return cast(RecordT, self._wait(follower.until(timeout_s)))

    def _follower(self, job_id: str, last_event_id: str | None, deltas: bool) -> Follower:
        return Follower(self.base_url, self.timeout_s, job_id, last_event_id, deltas)


class Client(_Api[str, JobRecord, JobPage, Iterator[JobEvent]]):
    """The blocking client."""

    def __init__(
        self, base_url: str | None = None, token: str | None = None, *,
        timeout_s: float = 30.0, transport: httpx.BaseTransport | None = None,
    ) -> None:  # fmt: skip
        super().__init__(base_url, token, timeout_s)
        self._http = httpx.Client(transport=transport, **self._settings)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, call: Call[T], timeout: httpx.Timeout | None = None) -> T:
        try:
            response = self._http.send(call.request(self._http, timeout or self._http.timeout))
        except httpx.RequestError as exc:
            raise unavailable(self.base_url, exc) from None
        return call.result(response.status_code, response.content)

    def _follow(self, follower: Follower) -> Iterator[JobEvent]:
        follower.over = False
        while not follower.over:
            call, request = follower.connect(self._http)
            try:
                with closing(self._http.send(request, stream=True)) as response:
                    if not response.is_success:
                        call.fail(response.status_code, response.read())
                    follower.opened = True
                    for line in response.iter_lines():
                        yield from follower.line(line)
                        if follower.over:
                            break
                follower.over = True  # the API ended the stream
            except httpx.RequestError as exc:
                time.sleep(follower.dropped(exc))

    def _wait(self, follower: Follower) -> JobRecord:
        while True:
            for _ in self._follow(follower):
                pass  # up to the job's last event, or the end of the stream
            try:
                record: JobRecord = self._send(Call.job(follower.job_id), follower.timeout())
            except errors.ApiUnavailable:
                follower.remaining_s()  # JobTimeout when the deadline cut the read short
                raise
            if record.status.is_final:
                return record
            time.sleep(follower.pause_s())  # the stream ended early: follow on from its end


class AsyncClient(
    _Api[Awaitable[str], Awaitable[JobRecord], Awaitable[JobPage], AsyncIterator[JobEvent]]
):
    """The asyncio client: the methods of `Client`, awaited; `events` is an async iterator (to
    leave it early and free its connection at once, close it: `contextlib.aclosing`)."""

    def __init__(
        self, base_url: str | None = None, token: str | None = None, *,
        timeout_s: float = 30.0, transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:  # fmt: skip
        super().__init__(base_url, token, timeout_s)
        self._http = httpx.AsyncClient(transport=transport, **self._settings)

    async def close(self) -> None:
        await self._http.aclose()

    aclose = close

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _send(self, call: Call[T], timeout: httpx.Timeout | None = None) -> T:
        request = call.request(self._http, timeout or self._http.timeout)
        try:
            response = await self._http.send(request)
        except httpx.RequestError as exc:
            raise unavailable(self.base_url, exc) from None
        return call.result(response.status_code, response.content)

    async def _follow(self, follower: Follower) -> AsyncIterator[JobEvent]:
        follower.over = False
        while not follower.over:
            call, request = follower.connect(self._http)
            try:
                async with aclosing(await self._http.send(request, stream=True)) as response:
                    if not response.is_success:
                        call.fail(response.status_code, await response.aread())
                    follower.opened = True
                    async for line in response.aiter_lines():
                        for event in follower.line(line):
                            yield event
                        if follower.over:
                            break
                follower.over = True
            except httpx.RequestError as exc:
                await asyncio.sleep(follower.dropped(exc))

    async def _wait(self, follower: Follower) -> JobRecord:
        while True:
            async for _ in self._follow(follower):
                pass
            try:
                record: JobRecord = await self._send(Call.job(follower.job_id), follower.timeout())
            except errors.ApiUnavailable:
                follower.remaining_s()
                raise
            if record.status.is_final:
                return record
            await asyncio.sleep(follower.pause_s())
