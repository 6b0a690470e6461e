"""Request lanes over real sockets: a local HTTP/1.1 server that tells each request which
client port it came from, so connection reuse is seen from the server's side."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anthropic
import httpx2
import pytest

from chorus.llm.lanes import RequestLanes
from chorus.llm.transport import ModelHttpClient
from tests.support.waiting import wait_until
from tests.unit.llm.test_transport import MESSAGE

WAIT_S = 10.0  # every wait in these tests ends by then


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.arrived = threading.Barrier(1)
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a connection can be reused
    server: Server

    def do_GET(self) -> None:
        if self.path == "/together":  # answer once every party has arrived
            self.server.arrived.wait(WAIT_S)
        if self.path == "/hold":
            self.server.release.wait(WAIT_S)
        self._reply(str(self.client_address[1]).encode(), "text/plain")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        body = json.dumps(MESSAGE | {"id": f"msg_{self.client_address[1]}"}).encode()
        self._reply(body, "application/json")

    def _reply(self, body: bytes, kind: str) -> None:
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    found = Server()
    thread = threading.Thread(target=found.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield found
    finally:
        found.release.set()
        found.shutdown()
        found.server_close()
        thread.join(WAIT_S)


def lanes(connections: int = 10, keepalive: int = 5, expiry_s: float = 5.0) -> RequestLanes:
    limits = httpx2.Limits(
        max_connections=connections, max_keepalive_connections=keepalive, keepalive_expiry=expiry_s
    )
    return RequestLanes(limits)


def test_requests_one_after_another_reuse_one_connection(server: Server) -> None:
    transport = lanes()
    with httpx2.Client(transport=transport) as client:
        ports = {client.get(server.url + "/").text for _ in range(3)}
        assert len(ports) == 1
        assert (transport.busy, transport.idle) == (0, 1)


def test_requests_at_once_each_get_a_connection_and_surplus_idle_ones_close(
    server: Server,
) -> None:
    server.arrived = threading.Barrier(4)
    transport = lanes(keepalive=2)
    with httpx2.Client(transport=transport) as client, ThreadPoolExecutor(4) as pool:
        ports = list(pool.map(lambda _: client.get(server.url + "/together").text, range(4)))
        assert len(set(ports)) == 4
        assert (transport.busy, transport.idle) == (0, 2)
        # The kept ones are live: the next request reuses one of them.
        assert client.get(server.url + "/").text in ports


def test_lanes_idle_past_the_expiry_are_closed(server: Server) -> None:
    server.arrived = threading.Barrier(2)
    transport = lanes(expiry_s=0.1)
    with httpx2.Client(transport=transport) as client, ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: client.get(server.url + "/together"), range(2)))
        assert transport.idle == 2
        time.sleep(0.3)  # past the expiry: what is under test, not a wait for anything
        # The newest lane is reused (its connection made again); the other one is closed.
        client.get(server.url + "/")
        assert (transport.busy, transport.idle) == (0, 1)


def test_past_the_connection_limit_a_request_waits_for_its_pool_timeout(server: Server) -> None:
    transport = lanes(connections=1)
    with httpx2.Client(transport=transport, timeout=httpx2.Timeout(WAIT_S, pool=0.2)) as client:
        with client.stream("GET", server.url + "/") as held:
            with pytest.raises(httpx2.PoolTimeout):
                client.get(server.url + "/")
            held.read()
        # Closed, the held response handed its lane back: the same connection serves the next.
        assert client.get(server.url + "/").text == held.text


def test_a_waiting_request_goes_as_soon_as_a_lane_is_handed_back(server: Server) -> None:
    transport = lanes(connections=1)
    client = httpx2.Client(transport=transport, timeout=WAIT_S)
    with client, ThreadPoolExecutor(2) as pool:
        first = pool.submit(client.get, server.url + "/hold")
        wait_until(lambda: transport.busy == 1, timeout_s=WAIT_S, what="the first lane")
        second = pool.submit(client.get, server.url + "/")
        wait_until(lambda: transport.waiting == 1, timeout_s=WAIT_S, what="the second waiting")
        server.release.set()
        assert first.result(WAIT_S).text == second.result(WAIT_S).text


def test_a_failed_request_hands_its_lane_back(server: Server) -> None:
    transport = lanes(connections=1)
    gone = f"http://127.0.0.1:{_closed_port()}/"
    with httpx2.Client(transport=transport, timeout=httpx2.Timeout(WAIT_S, pool=0.2)) as client:
        with pytest.raises(httpx2.ConnectError):
            client.get(gone)
        assert transport.busy == 0
        assert client.get(server.url + "/").status_code == 200  # not a PoolTimeout


def test_closing_closes_the_idle_lanes(server: Server) -> None:
    transport = lanes()
    client = httpx2.Client(transport=transport)
    client.get(server.url + "/")
    client.close()
    assert (transport.busy, transport.idle) == (0, 0)


def test_the_sdk_reuses_a_connection_through_the_default_client(server: Server) -> None:
    sdk = anthropic.Anthropic(
        api_key="k", base_url=server.url, max_retries=0, http_client=ModelHttpClient(WAIT_S)
    )
    with sdk:
        ids = {
            sdk.messages.create(
                model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            ).id
            for _ in range(3)
        }
    assert len(ids) == 1  # the server saw one client port


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
