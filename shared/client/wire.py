"""The HTTP API's requests, answers and event stream, without I/O: what `Client` and
`AsyncClient` share. A request and how to read its answer (`Call`), one Server-Sent Event
(`parse_event`), and following one job's events across reconnects up to a deadline
(`Follower`). Every failure is a `chorus.errors.ChorusError`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, NoReturn, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

import chorus.errors as errors
from chorus.contract import limits
from chorus.contract.actions import PlanReview, RetryRequest
from chorus.contract.events import EventKind, JobEvent
from chorus.contract.models import JobRecord, describe_validation_error

MAX_RECONNECTS: Final = 5  # a lost events stream is reopened this often in a row, no more
RECONNECT_PAUSE_S = 0.25  # before reconnecting; doubled on each further try, up to 2 s
T = TypeVar("T")


class JobPage(BaseModel):
    """One page of `list`, newest job first; `next_cursor` asks for the next (None: no more)."""

    model_config = ConfigDict(frozen=True)
    jobs: list[JobRecord]
    next_cursor: str | None


def accepted(answer: Any) -> str:
    """The job id in the API's answer to a submission."""
    return TypeAdapter(str).validate_python(answer["job_id"])


def review_call(
    job_id: str, approve: bool, plan: Mapping[str, Any] | None, reject: bool, reason: str | None
) -> Call[Any]:
    """`POST /v1/jobs/{id}/plan`, its body checked here first (exactly one answer)."""
    given = {"approve": approve, "plan": plan, "reject": reject, "reason": reason}
    try:
        body = PlanReview.model_validate(given).model_dump(mode="json", exclude_defaults=True)
    except ValidationError as exc:
        raise errors.InvalidRequest(describe_validation_error(exc)) from None
    content = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    return Call.job(job_id, "/plan", method="POST", content=content, headers=headers)


def retry_call(
    job_id: str, options: Mapping[str, Any] | None, idempotency_key: str | None
) -> Call[Any]:
    """`POST /v1/jobs/{id}/retry`, its options checked here first."""
    try:
        body = RetryRequest.model_validate({"options": options or {}}).model_dump(
            mode="json", exclude_none=True
        )
    except ValidationError as exc:
        raise errors.InvalidRequest(describe_validation_error(exc)) from None
    key = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else {}
    headers = {"Content-Type": "application/json", **key}
    content = json.dumps(body).encode()
    return Call.job(job_id, "/retry", method="POST", content=content, headers=headers)


def unavailable(url: str, exc: Exception, detail: str = "") -> errors.ApiUnavailable:
    shown = httpx.URL(url).copy_with(userinfo=b"")  # nor a password written into the URL
    message = f"cannot reach the Chorus API at {shown}: {type(exc).__name__}{detail}"
    return errors.ApiUnavailable(message)


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API request, and how to read its answer."""

    method: str
    path: str
    decode: Callable[[Any], T]
    job_id: str | None = None  # the one job the call is about: its 404 is JobNotFound
    content: bytes | None = None
    params: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @staticmethod
    def job(job_id: str, action: str = "", **kwargs: Any) -> Call[Any]:
        """A call about one job (by default: GET its record); a 404 means JobNotFound."""
        if not isinstance(job_id, str) or not job_id.strip():
            raise errors.InvalidRequest("job_id must be a non-empty string")
        if len(job_id) > limits.MAX_JOB_ID_CHARS:
            raise errors.InvalidRequest(f"job_id is over {limits.MAX_JOB_ID_CHARS} characters")
        path = f"/v1/jobs/{quote(job_id, safe='')}{action}"
        kwargs = {"method": "GET", "decode": JobRecord.model_validate, **kwargs}
        return Call(path=path, job_id=job_id, **kwargs)

    def request(self, http: httpx.Client | httpx.AsyncClient, timeout: Any) -> httpx.Request:
        kwargs: dict[str, Any] = {"params": self.params, "headers": self.headers}
        return http.build_request(
            self.method, self.path, content=self.content, timeout=timeout, **kwargs
        )

    def result(self, status: int, content: bytes) -> T:
        """The decoded answer, or the ChorusError its status means."""
        if not 200 <= status < 300:
            self.fail(status, content)
        try:
            return self.decode(json.loads(content))
        except (ValueError, LookupError, TypeError):  # pydantic's ValidationError included
            message = f"the API answered {self.method} {self.path} with an unexpected body"
            raise errors.ApiError(status, message) from None

    def fail(self, status: int, content: bytes) -> NoReturn:
        """The API's `{"error", "fields"}` as a ChorusError (a proxy's page: its status line)."""
        try:
            body = json.loads(content)
            message, fields = str(body["error"]), body.get("fields") or []
        except (ValueError, LookupError, TypeError):
            message, fields = httpx.codes.get_reason_phrase(status) or f"HTTP {status}", []
        fields = [f for f in fields if isinstance(f, dict)] if isinstance(fields, list) else []
        if status == 404 and self.job_id is not None:
            raise errors.JobNotFound(self.job_id)
        if status == 422:
            raise errors.InvalidRequest(message, fields)
        raise errors.ApiError(status, message, fields)


def parse_event(lines: list[str]) -> tuple[str | None, JobEvent | None]:
    """One Server-Sent Event from its lines: its `id` and its JobEvent, which is None for a
    comment such as `: keep-alive`, or for a kind this client does not know (a newer API)."""
    fields: dict[str, list[str]] = {}
    for line in lines:
        name, _, value = line.partition(":")
        fields.setdefault(name, []).append(value.removeprefix(" "))
    event_id, kind = (fields[name][-1] if name in fields else None for name in ("id", "event"))
    if "data" not in fields or kind not in {k.value for k in EventKind}:
        return event_id, None
    try:
        data = json.loads("\n".join(fields["data"]))
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise errors.ApiError(200, f"the API sent event {event_id!r} with data that is not JSON")
    return event_id, JobEvent(id=event_id or "", kind=EventKind(kind), data=data)


class Follower:
    """A caller following one job's events across reconnects: what to ask next, how long a
    read may block (never past the deadline of a `wait`), when to reconnect, when to give up."""

    def __init__(
        self, url: str, read_s: float, job_id: str, last_id: str | None, deltas: bool = True
    ) -> None:
        self.url, self.read_s = url, read_s  # read_s: the client's timeout
        self.job_id, self.last_id = job_id, last_id
        self.deltas = deltas  # the workers' text as `subtask_delta` events
        self.wait_s: float | None = None
        self.deadline: float | None = None
        self.lines: list[str] = []  # of the event on its way
        self.opened = self.over = False  # over: the stream ended, or brought the job's last
        self.drops = 0  # in a row, without a new event

    def until(self, wait_s: float) -> Self:
        """Give up `wait_s` seconds from now (a `wait`)."""
        self.wait_s, self.deadline = wait_s, time.monotonic() + wait_s
        return self

    def remaining_s(self) -> float:
        """Time left before the deadline of a `wait`; JobTimeout once it has passed."""
        left = self.read_s if self.deadline is None else self.deadline - time.monotonic()
        if left <= 0:
            message = f"job {self.job_id!r} did not finish within {self.wait_s:g}s"
            raise errors.JobTimeout(message) from None  # also when a lost connection led here
        return left

    def timeout(self) -> httpx.Timeout:
        """A read may block this long: a silent stream cannot hold a `wait` past its end."""
        return httpx.Timeout(min(self.read_s, self.remaining_s()))

    def connect(self, http: httpx.Client | httpx.AsyncClient) -> tuple[Call[Any], httpx.Request]:
        """The request that (re)opens the stream after the last event seen."""
        self.lines = []
        last = {"Last-Event-ID": self.last_id} if self.last_id else {}
        headers = {"Accept": "text/event-stream", **last}
        params = None if self.deltas else {"deltas": "false"}
        call = Call.job(self.job_id, "/events", headers=headers, params=params)
        return call, call.request(http, self.timeout())

    def line(self, line: str) -> list[JobEvent]:
        """The event this line ends, if any; JobTimeout once the deadline has passed, however
        many keep-alives the stream sends."""
        self.lines.append(line)
        event = None
        if not line:  # a blank line ends an event
            event_id, event = parse_event(self.lines)
            self.lines, self.last_id = [], event_id if event_id is not None else self.last_id
        if event is None:
            self.remaining_s()
            return []
        # A last event is the end unless the job was retried since: then `retried` and the
        # new run's events follow it.
        self.drops = 0
        self.over = event.kind.is_last and not event.data.get("superseded")
        return [event]

    def dropped(self, exc: httpx.RequestError) -> float:
        """The pause before reconnecting; ApiUnavailable when the API cannot be reached or the
        stream keeps dropping; JobTimeout when the deadline has passed."""
        self.drops += 1
        if not self.opened or self.drops > MAX_RECONNECTS:
            lost = f" (events stream lost {self.drops} times)" if self.opened else ""
            raise unavailable(self.url, exc, lost) from None
        return self.pause_s(self.drops)

    def pause_s(self, tries: int = 1) -> float:
        return min(RECONNECT_PAUSE_S * 2.0 ** (tries - 1), 2.0, self.remaining_s())
