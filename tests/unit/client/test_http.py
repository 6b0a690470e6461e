"""The HTTP client without a server: SSE parsing, request building and error mapping, and both
clients (`Client`, `AsyncClient`) against `httpx.MockTransport` or a silent local socket."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from chorus.client import http, wire
from chorus.client.http import AsyncClient, Client
from chorus.client.wire import JobPage, parse_event
from chorus.contract.events import EventKind, JobEvent
from chorus.contract.models import JobStatus
from chorus.errors import (
    ApiError,
    ApiUnavailable,
    ChorusError,
    ConfigError,
    InvalidRequest,
    JobNotFound,
    JobTimeout,
)
from tests.support import factories

BASE = "http://chorus.test"
TOKEN = "secret-token-0123456789"
JOB = "job-1"
EVENTS_PATH = f"/v1/jobs/{JOB}/events"
RECORD_PATH = f"/v1/jobs/{JOB}"
KEEP_ALIVE = b": keep-alive\n\n"
# Every fake stream stops by itself after this long, so no test can hang on one.
STREAM_CAP_S = 10.0

Raw = tuple[str, str, dict[str, Any]]  # id, kind, data

EVENTS: list[Raw] = [
    ("1-0", "planned", {"job_id": JOB, "subtasks": 2}),
    ("2-0", "subtask_started", {"job_id": JOB, "index": 0}),
    ("3-0", "subtask_finished", {"job_id": JOB, "index": 0, "status": "succeeded"}),
    ("4-0", "job_finished", {"job_id": JOB, "status": "succeeded"}),
]


def sse(events: Sequence[Raw], eol: str = "\n") -> bytes:
    return "".join(
        f"id: {i}{eol}event: {kind}{eol}data: {json.dumps(data, ensure_ascii=False)}{eol}{eol}"
        for i, kind, data in events
    ).encode()


def as_events(events: Sequence[Raw]) -> list[JobEvent]:
    return [JobEvent(id=i, kind=EventKind(kind), data=data) for i, kind, data in events]


def record_json(status: JobStatus = JobStatus.SUCCEEDED) -> dict[str, Any]:
    record = factories.running(2).model_copy(update={"job_id": JOB, "status": status})
    return record.model_dump(mode="json")


class Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body sent in `chunks`, then keep-alives for `keep_alive_s` (never more than
    STREAM_CAP_S), then a clean end or, with `drop`, a connection lost mid-body."""

    def __init__(
        self, chunks: Sequence[bytes], *, keep_alive_s: float = 0, drop: bool = False
    ) -> None:
        self.chunks = list(chunks)
        self.until = time.monotonic() + min(keep_alive_s, STREAM_CAP_S)
        self.drop = drop

    def _end(self) -> None:
        if self.drop:
            raise httpx.RemoteProtocolError("peer closed connection without a complete body")

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks
        while time.monotonic() < self.until:
            time.sleep(0.02)  # a server's pace between keep-alives, which is what is tested
            yield KEEP_ALIVE
        self._end()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        while time.monotonic() < self.until:
            await asyncio.sleep(0.02)  # as above: the stream's pace is the point
            yield KEEP_ALIVE
        self._end()


def stream(body: Body) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=body)


def error(status: int, message: str, fields: list[Any] | None = None) -> httpx.Response:
    payload: dict[str, Any] = {"error": message}
    if fields is not None:
        payload["fields"] = fields
    return httpx.Response(status, json=payload)


class FakeApi:
    """Answers each request with the next response `answer` gives; keeps every request."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)

    @property
    def calls(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]


def script(*responses: Callable[[], httpx.Response]) -> FakeApi:
    """A fake API answering requests in order, one factory per request; a request beyond the
    script fails the test."""
    pending = list(responses)

    def answer(request: httpx.Request) -> httpx.Response:
        assert pending, f"unexpected request {request.method} {request.url}"
        return pending.pop(0)()

    return FakeApi(answer)


Run = Callable[..., Any]


def run_sync(target: FakeApi | str, method: str, *args: Any, **kwargs: Any) -> Any:
    """Call `method` on a `Client` of the fake API (or of a real URL); events as a list."""
    url, transport = (target, None) if isinstance(target, str) else (BASE, target)
    mock = httpx.MockTransport(transport) if transport else None
    with Client(url, TOKEN, timeout_s=5, transport=mock) as client:
        result = getattr(client, method)(*args, **kwargs)
        return list(result) if method == "events" else result


def run_async(target: FakeApi | str, method: str, *args: Any, **kwargs: Any) -> Any:
    """`run_sync` with an `AsyncClient`, in a fresh event loop."""
    url, transport = (target, None) if isinstance(target, str) else (BASE, target)

    async def go() -> Any:
        mock = httpx.MockTransport(transport) if transport else None
        async with AsyncClient(url, TOKEN, timeout_s=5, transport=mock) as client:
            if method == "events":
                return [event async for event in client.events(*args, **kwargs)]
            return await getattr(client, method)(*args, **kwargs)

    return asyncio.run(go())


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest) -> Run:
    return run_sync if request.param == "sync" else run_async


@pytest.fixture(autouse=True)
def quick_reconnects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "RECONNECT_PAUSE_S", 0.001)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def silent_event_server() -> Iterator[str]:
    """A real HTTP server that answers 200 text/event-stream, then never sends a byte (until
    the test is over, or STREAM_CAP_S at most)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()
    connections: list[socket.socket] = []

    def serve() -> None:
        deadline = time.monotonic() + STREAM_CAP_S
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            connections.append(conn)
            conn.settimeout(2)
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\n\r\n"
            )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in connections:
            conn.close()
        listener.close()
    assert not thread.is_alive()


# --- SSE parsing -----------------------------------------------------------------------------


def test_parse_event_reads_id_kind_and_data() -> None:
    lines = ["id: 5-0", "event: planned", 'data: {"a":', "data: 1}", ""]
    assert parse_event(lines) == ("5-0", JobEvent(id="5-0", kind=EventKind.PLANNED, data={"a": 1}))


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([": keep-alive", ""], (None, None)),
        (["id: 6-0", "event: from_a_newer_api", "data: {}", ""], ("6-0", None)),
        (["id: 7-0", "event: subtask_started", ""], ("7-0", None)),  # no data: no event
        (["event: job_finished", "retry: 10", "data:{}", ""],
         (None, JobEvent(id="", kind=EventKind.JOB_FINISHED, data={}))),
    ],
)  # fmt: skip
def test_parse_event_skips_comments_unknown_kinds_and_events_without_data(
    lines: list[str], expected: tuple[str | None, JobEvent | None]
) -> None:
    assert parse_event(lines) == expected


@pytest.mark.parametrize("data", ["not json", "[1, 2]", '"text"'])
def test_parse_event_rejects_data_that_is_not_a_json_object(data: str) -> None:
    with pytest.raises(ApiError, match="data that is not JSON"):
        parse_event(["id: 1-0", "event: planned", f"data: {data}", ""])


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("size", [1, 2, 3, 7, 4096])
def test_events_are_indifferent_to_line_ends_and_how_the_bytes_are_chunked(
    run: Run, eol: str, size: int
) -> None:
    events: list[Raw] = [*EVENTS[:1], ("1-1", "subtask_finished", {"output": "héllo ✓ 𝄞"})]
    events += EVENTS[1:]
    raw = (": hello" + eol + eol).encode() + sse(events, eol)
    chunks = [raw[i : i + size] for i in range(0, len(raw), size)]
    api = script(lambda: stream(Body(chunks)))
    assert run(api, "events", JOB) == as_events(events)


def test_several_events_in_one_chunk_between_keep_alives(run: Run) -> None:
    chunk = KEEP_ALIVE + sse(EVENTS[:2]) + KEEP_ALIVE + sse(EVENTS[2:])
    api = script(lambda: stream(Body([chunk])))
    assert run(api, "events", JOB) == as_events(EVENTS)


# --- requests --------------------------------------------------------------------------------


def test_submit_sends_the_body_idempotency_key_and_bearer_token(run: Run) -> None:
    api = script(lambda: httpx.Response(202, json={"job_id": "j-9", "status": "planning"}))
    options = {"max_subtasks": 2}
    job_id = run(
        api, "submit", "Explain {x}", context={"x": 1}, options=options, job_id="j-9",
        idempotency_key="key-1",
    )  # fmt: skip
    assert job_id == "j-9"
    (request,) = api.requests
    assert (request.method, request.url.path) == ("POST", "/v1/jobs")
    assert json.loads(request.content) == {
        "task": "Explain {x}", "context": {"x": 1}, "options": options, "job_id": "j-9",
    }  # fmt: skip
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["idempotency-key"] == "key-1"
    assert request.headers["content-type"] == "application/json"
    assert int(request.headers["content-length"]) == len(request.content)


def test_get_cancel_and_list_decode_records_and_pages(run: Run) -> None:
    page = {"jobs": [record_json()], "next_cursor": "1700000000.5"}
    api = script(
        lambda: httpx.Response(200, json=record_json(JobStatus.RUNNING)),
        lambda: httpx.Response(200, json=record_json(JobStatus.CANCELLED)),
        lambda: httpx.Response(200, json=page),
        lambda: httpx.Response(200, json={"jobs": [], "next_cursor": None}),
    )
    assert run(api, "get", JOB).status is JobStatus.RUNNING
    assert run(api, "cancel", JOB).status is JobStatus.CANCELLED
    first = run(api, "list", status=JobStatus.SUCCEEDED, limit=5, cursor="1700000001.0")
    assert isinstance(first, JobPage) and first.next_cursor == "1700000000.5"
    assert [r.job_id for r in first.jobs] == [JOB]
    assert run(api, "list") == JobPage(jobs=[], next_cursor=None)
    assert api.calls == [
        f"GET {RECORD_PATH}", f"POST {RECORD_PATH}/cancel", "GET /v1/jobs", "GET /v1/jobs",
    ]  # fmt: skip
    assert api.requests[1].headers["content-length"] == "0"
    assert dict(api.requests[2].url.params) == {
        "limit": "5", "status": "succeeded", "cursor": "1700000001.0",
    }  # fmt: skip
    assert dict(api.requests[3].url.params) == {"limit": "20"}


def test_a_job_id_is_escaped_into_one_path_segment(run: Run) -> None:
    api = script(lambda: httpx.Response(404, json={"error": "no job"}))
    with pytest.raises(JobNotFound):
        run(api, "get", "a/b?c")
    assert api.requests[0].url.raw_path == b"/v1/jobs/a%2Fb%3Fc"


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "message"),
    [
        ("submit", ("Task",), {"context": {"when": object()}}, "must be plain JSON"),
        ("submit", ("Task",), {"context": {"x": float("nan")}}, "must be plain JSON"),
        ("get", ("",), {}, "job_id must be a non-empty string"),
    ],
)
def test_requests_the_api_would_refuse_are_refused_without_a_call(
    run: Run, method: str, args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    api = script()
    with pytest.raises(InvalidRequest, match=message):
        run(api, method, *args, **kwargs)
    assert api.requests == []


def test_url_and_token_default_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    api = script(*[lambda: httpx.Response(200, json=record_json())] * 2)
    monkeypatch.setenv("CHORUS_API_URL", "http://env.example:9000/")
    monkeypatch.setenv("CHORUS_API_TOKEN", "env-token-0123456789")
    with Client(transport=httpx.MockTransport(api)) as client:
        client.get(JOB)
    monkeypatch.delenv("CHORUS_API_URL")
    monkeypatch.delenv("CHORUS_API_TOKEN")
    with Client(transport=httpx.MockTransport(api)) as client:
        client.get(JOB)
    env, default = api.requests
    assert str(env.url) == f"http://env.example:9000{RECORD_PATH}"
    assert env.headers["authorization"] == "Bearer env-token-0123456789"
    assert str(default.url) == f"{http.DEFAULT_API_URL}{RECORD_PATH}"
    assert "authorization" not in default.headers


def test_a_base_url_with_a_path_prefix_keeps_it() -> None:
    api = script(lambda: httpx.Response(200, json=record_json()))
    with Client("https://gw.example/chorus/", transport=httpx.MockTransport(api)) as client:
        client.get(JOB)
    assert str(api.requests[0].url) == f"https://gw.example/chorus{RECORD_PATH}"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_url": "ftp://x"}, "must start with http"),
        ({"token": f"{TOKEN}\nx"}, "printable ASCII"),
        ({"token": f"{TOKEN} x"}, "printable ASCII"),
        ({"timeout_s": 0}, "timeout_s must be above 0"),
    ],
)
def test_bad_settings_are_config_errors_that_never_show_the_token(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        Client(**{"base_url": BASE, **kwargs})
    assert TOKEN not in str(caught.value)


# --- error mapping ---------------------------------------------------------------------------

FIELDS = [{"field": "task", "message": "task must not be empty"}]


@pytest.mark.parametrize(
    ("method", "args", "answer", "expected", "message"),
    [
        ("get", (JOB,), error(404, "no job 'job-1'"), JobNotFound, "no job 'job-1'"),
        ("cancel", (JOB,), error(404, "no job 'job-1'"), JobNotFound, "no job 'job-1'"),
        ("events", (JOB,), error(404, "no job 'job-1'"), JobNotFound, "no job 'job-1'"),
        ("wait", (JOB,), error(404, "no job 'job-1'"), JobNotFound, "no job 'job-1'"),
        ("submit", ("",), error(422, "task: task must not be empty", FIELDS), InvalidRequest,
         "task: task must not be empty"),
        ("submit", ("x",), error(409, "job_id 'a' is already in use"), ApiError,
         "409: job_id 'a' is already in use"),
        ("get", (JOB,), error(500, "internal error"), ApiError, "500: internal error"),
        ("events", (JOB,), error(500, "internal error"), ApiError, "500: internal error"),
        ("list", (), error(404, "Not Found"), ApiError, "404: Not Found"),
        ("list", (), error(401, "missing or invalid bearer token"), ApiError,
         "401: missing or invalid bearer token"),
        ("get", (JOB,), httpx.Response(502, text="<html>\nBad gateway</html>"), ApiError,
         "502: Bad Gateway"),
        ("get", (JOB,), httpx.Response(503), ApiError, "503: Service Unavailable"),
        ("get", (JOB,), httpx.Response(200, text="{not json"), ApiError,
         "200: the API answered GET /v1/jobs/job-1 with an unexpected body"),
        ("get", (JOB,), httpx.Response(200, json={"job_id": JOB}), ApiError,
         "200: the API answered GET /v1/jobs/job-1 with an unexpected body"),
        ("list", (), httpx.Response(200, json={"jobs": {}}), ApiError,
         "200: the API answered GET /v1/jobs with an unexpected body"),
        ("submit", ("x",), httpx.Response(202, json={"job_id": 7}), ApiError,
         "202: the API answered POST /v1/jobs with an unexpected body"),
        ("get", (JOB,), httpx.Response(307, headers={"location": "/elsewhere"}), ApiError,
         "307: Temporary Redirect"),
        ("events", (JOB,), httpx.Response(503, text="busy"), ApiError, "503: Service Unavailable"),
        ("events", (JOB,), httpx.Response(422, json={"error": "last-event-id: bad"}),
         InvalidRequest, "last-event-id: bad"),
    ],
)  # fmt: skip
def test_error_answers_map_to_chorus_errors(
    run: Run,
    method: str,
    args: tuple[Any, ...],
    answer: httpx.Response,
    expected: type[ChorusError],
    message: str,
) -> None:
    api = FakeApi(
        lambda _: httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)
    )
    with pytest.raises(expected) as caught:
        run(api, method, *args)
    assert type(caught.value) is expected
    assert str(caught.value).startswith(message)
    assert len(api.requests) == 1  # an error answer is never retried
    assert TOKEN not in str(caught.value)


def test_api_error_carries_status_message_and_fields(run: Run) -> None:
    api = script(lambda: error(400, "bad", [{"field": "task", "message": "no"}, "junk"]))
    with pytest.raises(ApiError) as caught:
        run(api, "submit", "x")
    assert (caught.value.status, caught.value.message) == (400, "bad")
    assert caught.value.fields == [{"field": "task", "message": "no"}]


def test_invalid_request_carries_the_fields_at_fault(run: Run) -> None:
    api = script(lambda: error(422, "task: task must not be empty", FIELDS))
    with pytest.raises(InvalidRequest) as caught:
        run(api, "submit", "")
    assert caught.value.fields == FIELDS and isinstance(caught.value, ValueError)


def test_job_not_found_names_the_job(run: Run) -> None:
    api = script(lambda: error(404, "no job"))
    with pytest.raises(JobNotFound) as caught:
        run(api, "cancel", "job-42")
    assert caught.value.job_id == "job-42"
    assert isinstance(caught.value, LookupError)


# --- transport failures ----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["get", "events", "wait"])
def test_connection_refused_is_api_unavailable(run: Run, method: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(ApiUnavailable) as caught:
        run(url, method, JOB)
    assert str(caught.value) == f"cannot reach the Chorus API at {url}: ConnectError"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert time.monotonic() - started < 5  # the first connection is not retried


@pytest.mark.parametrize(
    "failure", [httpx.ReadTimeout("timed out"), httpx.ConnectTimeout("timed out")]
)
def test_timeouts_are_api_unavailable_and_name_the_api(
    run: Run, failure: httpx.TransportError
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure

    with pytest.raises(ApiUnavailable) as caught:
        run(FakeApi(fail), "submit", "x")
    assert str(caught.value) == f"cannot reach the Chorus API at {BASE}: {type(failure).__name__}"


def test_messages_and_reprs_never_show_the_token_or_url_credentials() -> None:
    url = f"http://user:hunter2@127.0.0.1:{free_port()}"
    client = Client(url, TOKEN)
    with client, pytest.raises(ApiUnavailable) as caught:
        client.get(JOB)
    text = f"{caught.value} {client!r} {AsyncClient(url, TOKEN)!r}"
    assert TOKEN not in text and "hunter2" not in text
    assert repr(client) == f"Client(base_url='http://127.0.0.1:{url.rsplit(':', 1)[1]}')"


# --- events ----------------------------------------------------------------------------------


def test_events_arrive_in_order_from_chunks_and_stop_at_the_last_one(run: Run) -> None:
    raw = KEEP_ALIVE + sse(EVENTS)
    chunks = [raw[i : i + 5] for i in range(0, len(raw), 5)]
    # The stream would go on with keep-alives: the client must not wait for its end.
    api = script(lambda: stream(Body(chunks, keep_alive_s=STREAM_CAP_S)))
    started = time.monotonic()
    assert run(api, "events", JOB) == as_events(EVENTS)
    assert time.monotonic() - started < STREAM_CAP_S / 2
    (request,) = api.requests
    assert request.headers["accept"] == "text/event-stream"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert "last-event-id" not in request.headers


def test_a_last_event_superseded_by_a_retry_is_followed_by_the_new_runs_events(run: Run) -> None:
    retried: list[Raw] = [
        ("4-0", "job_finished", {"job_id": JOB, "status": "partial", "superseded": True}),
        ("5-0", "retried", {"job_id": JOB, "run": 2, "subtasks": [1]}),
        ("6-0", "job_finished", {"job_id": JOB, "status": "succeeded"}),
    ]
    api = script(lambda: stream(Body([sse(retried)], keep_alive_s=STREAM_CAP_S)))
    started = time.monotonic()
    assert run(api, "events", JOB) == as_events(retried)
    assert time.monotonic() - started < STREAM_CAP_S / 2  # the new last event ends it


def test_events_resume_after_the_given_id_and_end_with_the_stream(run: Run) -> None:
    api = script(lambda: stream(Body([sse(EVENTS[2:3])])))
    assert run(api, "events", JOB, last_event_id="2-0") == as_events(EVENTS[2:3])
    assert api.requests[0].headers["last-event-id"] == "2-0"


def test_a_dropped_stream_is_reopened_after_the_last_event_seen(run: Run) -> None:
    api = script(
        lambda: stream(Body([sse(EVENTS[:2]), b"id: 3-0\nevent: subt"], drop=True)),
        lambda: stream(Body([], drop=True)),  # dropped again before any event
        lambda: stream(Body([sse(EVENTS[2:])])),
    )
    assert run(api, "events", JOB) == as_events(EVENTS)
    assert [r.headers.get("last-event-id") for r in api.requests] == [None, "2-0", "2-0"]


def test_a_stream_that_keeps_dropping_ends_in_api_unavailable(run: Run) -> None:
    api = FakeApi(lambda _: stream(Body([KEEP_ALIVE], drop=True)))
    with pytest.raises(ApiUnavailable, match="RemoteProtocolError") as caught:
        run(api, "events", JOB)
    assert len(api.requests) == wire.MAX_RECONNECTS + 1
    assert str(caught.value).startswith(f"cannot reach the Chorus API at {BASE}")


def test_a_silent_stream_is_reopened_after_the_read_timeout() -> None:
    with silent_event_server() as url, Client(url, TOKEN, timeout_s=0.2) as client:
        started = time.monotonic()
        with pytest.raises(ApiUnavailable, match=r"ReadTimeout \(events stream lost 6 times\)"):
            list(client.events(JOB))
    assert time.monotonic() - started < STREAM_CAP_S / 2


# --- wait ------------------------------------------------------------------------------------


def test_wait_follows_the_events_then_reads_the_record_once(run: Run) -> None:
    api = script(
        lambda: stream(Body([KEEP_ALIVE, sse(EVENTS)], keep_alive_s=STREAM_CAP_S)),
        lambda: httpx.Response(200, json=record_json(JobStatus.SUCCEEDED)),
    )
    record = run(api, "wait", JOB, timeout_s=5)
    assert record.job_id == JOB and record.status is JobStatus.SUCCEEDED
    assert api.calls == [f"GET {EVENTS_PATH}", f"GET {RECORD_PATH}"]


def test_wait_reconnects_with_last_event_id_after_a_dropped_stream(run: Run) -> None:
    api = script(
        lambda: stream(Body([sse(EVENTS[:1])], drop=True)),
        lambda: stream(Body([sse(EVENTS[1:])])),
        lambda: httpx.Response(200, json=record_json(JobStatus.SUCCEEDED)),
    )
    assert run(api, "wait", JOB, timeout_s=5).status is JobStatus.SUCCEEDED
    assert api.calls == [f"GET {EVENTS_PATH}", f"GET {EVENTS_PATH}", f"GET {RECORD_PATH}"]
    assert api.requests[1].headers["last-event-id"] == "1-0"


def test_wait_follows_on_when_the_stream_ends_before_the_job(run: Run) -> None:
    api = script(
        lambda: stream(Body([sse(EVENTS[:2])])),  # ended by the API, job still running
        lambda: httpx.Response(200, json=record_json(JobStatus.RUNNING)),
        lambda: stream(Body([sse(EVENTS[2:])])),
        lambda: httpx.Response(200, json=record_json(JobStatus.PARTIAL)),
    )
    assert run(api, "wait", JOB, timeout_s=5).status is JobStatus.PARTIAL
    assert [r.headers.get("last-event-id") for r in api.requests] == [None, None, "2-0", None]


def test_wait_on_a_job_already_over_reads_its_events_then_its_record(run: Run) -> None:
    api = script(
        lambda: stream(Body([])),  # nothing left to send: the API ends the stream at once
        lambda: httpx.Response(200, json=record_json(JobStatus.FAILED)),
    )
    assert run(api, "wait", JOB, timeout_s=5).status is JobStatus.FAILED


def test_wait_times_out_on_a_stream_of_keep_alives(run: Run) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == EVENTS_PATH, "wait must not read the record before the end"
        return stream(Body([sse(EVENTS[:1])], keep_alive_s=STREAM_CAP_S))

    started = time.monotonic()
    with pytest.raises(JobTimeout, match=r"job 'job-1' did not finish within 0.3s"):
        run(FakeApi(answer), "wait", JOB, timeout_s=0.3)
    assert 0.3 <= time.monotonic() - started < STREAM_CAP_S / 2


def test_wait_times_out_on_a_silent_stream(run: Run) -> None:
    with silent_event_server() as url:
        started = time.monotonic()
        with pytest.raises(JobTimeout):
            run(url, "wait", JOB, timeout_s=0.5)  # the client's own timeout is 5 s
        assert 0.5 <= time.monotonic() - started < 3


def test_wait_times_out_while_the_api_keeps_ending_the_stream_early(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wire, "RECONNECT_PAUSE_S", 0.05)
    api = FakeApi(
        lambda r: (
            stream(Body([]))
            if r.url.path == EVENTS_PATH
            else httpx.Response(200, json=record_json(JobStatus.RUNNING))
        )
    )
    with pytest.raises(JobTimeout):
        run(api, "wait", JOB, timeout_s=0.3)
    assert 2 <= len(api.requests) <= 40  # paced, not a busy loop


# --- packaging -------------------------------------------------------------------------------


def test_importing_the_client_imports_no_server_side_package() -> None:
    code = (
        "import sys, chorus, chorus.client.http\n"
        "chorus.Client, chorus.AsyncClient, chorus.JobRecord\n"
        "heavy = {'celery', 'kombu', 'anthropic', 'fastapi', 'flower', 'redis'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
