"""A streamed worker call through the real ModelClient and SDK against a local HTTP server
that paces its server-sent events: the gap between chunks and the whole call are bounded
separately, and a stream that ends early is a retryable failure."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chorus.contract.models import Subtask, SubtaskAssignment
from chorus.errors import ModelCallError
from chorus.llm.client import ModelClient
from tests.support.standins import make_settings


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps({'type': event, **data})}\n\n".encode()


START = sse(
    "message_start",
    {
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "worker-model",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 1},
        }
    },
)
BLOCK = sse("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
END = (
    sse("content_block_stop", {"index": 0})
    + sse("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}})
    + sse("message_stop", {})
)


def piece(text: str) -> bytes:
    return sse("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": text}})


class Script:
    """What the server sends: (pause before, bytes) pairs."""

    steps: list[tuple[float, bytes]] = []
    content_type = "text/event-stream"


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(200)
        self.send_header("content-type", Script.content_type)
        self.send_header("connection", "close")
        self.end_headers()
        try:
            for pause, data in Script.steps:
                time.sleep(pause)  # the pacing under test
                self.wfile.write(data)
                self.wfile.flush()
        except OSError:
            pass  # the client gave up: what a timeout does

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def client(url: str, *, whole_s: float, gap_s: float) -> ModelClient:
    return ModelClient(
        make_settings(simulator_url=url, stream_timeout_s=whole_s, model_idle_timeout_s=gap_s)
    )


ASSIGNMENT = SubtaskAssignment(
    job_id="job-1",
    task="t",
    context={},
    subtask=Subtask(index=0, type="a", description="d"),
    model="worker-model",
    max_tokens=100,
)


def test_a_paced_stream_longer_than_the_gap_timeout_completes_with_every_piece(server: str) -> None:
    Script.steps = [(0, START + BLOCK)] + [(0.15, piece(f"w{i} ")) for i in range(8)] + [(0, END)]
    seen: list[str] = []
    reply = client(server, whole_s=10, gap_s=0.5).run_subtask(ASSIGNMENT, on_text=seen.append)
    assert reply.output == "".join(seen) == "".join(f"w{i} " for i in range(8))
    assert reply.usage.output_tokens == 9 and not reply.truncated


def test_a_gap_between_chunks_longer_than_the_idle_timeout_fails_soon(server: str) -> None:
    Script.steps = [(0, START + BLOCK + piece("a")), (3, piece("b") + END)]
    started = time.monotonic()
    with pytest.raises(ModelCallError) as caught:
        client(server, whole_s=30, gap_s=0.5).run_subtask(ASSIGNMENT)
    assert time.monotonic() - started < 2.5
    assert caught.value.retryable and "silent for 0.5s" in caught.value.message


def test_chunks_that_never_pause_long_still_end_at_the_whole_call_deadline(server: str) -> None:
    Script.steps = [(0, START + BLOCK)] + [(0.2, piece("x")) for _ in range(40)] + [(0, END)]
    started = time.monotonic()
    with pytest.raises(ModelCallError) as caught:
        client(server, whole_s=1.5, gap_s=1).run_subtask(ASSIGNMENT)
    assert 1.4 < time.monotonic() - started < 3.5
    assert caught.value.retryable and "within 1.5s" in caught.value.message


def test_a_stream_that_stops_before_message_stop_is_retryable(server: str) -> None:
    Script.steps = [(0, START + BLOCK + piece("half"))]
    with pytest.raises(ModelCallError) as caught:
        client(server, whole_s=10, gap_s=2).run_subtask(ASSIGNMENT)
    assert caught.value.retryable


def test_an_overloaded_error_event_mid_stream_is_retryable(server: str) -> None:
    error = {"error": {"type": "overloaded_error", "message": "Overloaded"}}
    Script.steps = [(0, START + BLOCK + piece("half") + sse("error", error))]
    with pytest.raises(ModelCallError) as caught:
        client(server, whole_s=10, gap_s=2).run_subtask(ASSIGNMENT)
    assert caught.value.retryable and "overloaded_error" in caught.value.message


def test_a_streamed_call_answered_with_html_is_an_invalid_response(server: str) -> None:
    Script.steps = [(0, b"<html>proxy error</html>")]
    Script.content_type = "text/html"
    try:
        with pytest.raises(ModelCallError) as caught:
            client(server, whole_s=10, gap_s=2).run_subtask(ASSIGNMENT)
    finally:
        Script.content_type = "text/event-stream"
    assert caught.value.retryable and caught.value.message.startswith("invalid_response: 200")


def test_a_stream_that_is_not_a_messages_reply_is_a_retryable_invalid_response(
    server: str,
) -> None:
    Script.steps = [(0, b"event: message_start\ndata: {not json\n\n")]
    with pytest.raises(ModelCallError) as caught:
        client(server, whole_s=10, gap_s=2).run_subtask(ASSIGNMENT)
    assert caught.value.retryable and caught.value.message.startswith("invalid_response")


def test_a_streamed_message_the_sdk_model_refuses_is_a_retryable_invalid_response(
    server: str,
) -> None:
    broken = START.replace(b'"role": "assistant"', b'"role": null')
    Script.steps = [(0, broken + BLOCK + piece("x") + END)]
    with pytest.raises(ModelCallError) as caught:
        client(server, whole_s=10, gap_s=2).run_subtask(ASSIGNMENT)
    assert caught.value.retryable and "first at role" in caught.value.message
