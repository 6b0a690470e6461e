"""A real HTTP server on 127.0.0.1 that receives webhooks for a test: it records each request
(method, path, headers, raw body) and answers from a scripted list of statuses (the last one
repeats), optionally after a delay. Runs in a thread; `with WebhookReceiver() as hook:`."""

from __future__ import annotations

import http.server
import threading
import time
from dataclasses import dataclass
from types import TracebackType

# What the shared stack signs with (tests.support.fixtures.stack_env).
TEST_SECRET = "whsec_test_secret"


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class WebhookReceiver:
    def __init__(self, *statuses: int, delay_s: float = 0.0) -> None:
        self.statuses = list(statuses) or [200]
        self.delay_s = delay_s
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}  # names: lowercase
                status = receiver._record(self.command, self.path, headers, body)
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def _record(self, method: str, path: str, headers: dict[str, str], body: bytes) -> int:
        with self._lock:
            self.received.append(Received(method, path, headers, body, time.time()))
            index = len(self.received) - 1
            return self.statuses[min(index, len(self.statuses) - 1)]

    def for_job(self, job_id: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if f'"job_id":"{job_id}"'.encode() in r.body]

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
