"""`chorus.Client` and `chorus.AsyncClient` against a real `chorus api` process in front of the
real stack (orchestrator, worker, simulator, Redis)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chorus.client.http import AsyncClient, Client
from chorus.contract.events import EventKind, JobEvent
from chorus.contract.models import JobRecord, JobStatus
from chorus.devstack.stack import LocalStack, free_port
from chorus.errors import ApiError, ApiUnavailable, InvalidRequest, JobNotFound
from tests.support.api_server import start_api
from tests.support.simulator_control import SimulatorControl

ALICE = "alice-client-token-0123456789"
BOB = "bob-client-token-0123456789"
QUICK = {"max_subtasks": 2}  # the simulator takes 200 ms a call: keep jobs small
WAIT_S = 60


@pytest.fixture(scope="module")
def api_url(chorus_stack: LocalStack, workdir: Path) -> Iterator[str]:
    env = {**chorus_stack.env, "CHORUS_API_TOKENS": f"alice:{ALICE},bob:{BOB}"}
    proc, url = start_api(env, workdir / "python-client-api.log")
    yield url
    proc.stop()


@pytest.fixture
def client(api_url: str, sim: SimulatorControl) -> Iterator[Client]:
    with Client(api_url, ALICE) as c:
        yield c


class CountingTransport(httpx.HTTPTransport):
    """Real HTTP, with a count of the requests by method and path."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: Counter[str] = Counter()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen[f"{request.method} {request.url.path}"] += 1
        return super().handle_request(request)


class AsyncCountingTransport(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.seen: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen[f"{request.method} {request.url.path}"] += 1
        return await super().handle_async_request(request)


def check_events(events: list[JobEvent], record: JobRecord) -> None:
    """planned first, each subtask started before it finished, the job's end last."""
    kinds = [e.kind for e in events]
    assert kinds[0] is EventKind.PLANNED and kinds[-1] is EventKind.JOB_FINISHED, kinds
    n = events[0].data["subtasks"]
    assert n == record.subtasks_total
    assert kinds.count(EventKind.SUBTASK_STARTED) == kinds.count(EventKind.SUBTASK_FINISHED) == n
    for index in range(n):
        started, finished = (
            next(i for i, e in enumerate(events) if e.kind is kind and e.data["index"] == index)
            for kind in (EventKind.SUBTASK_STARTED, EventKind.SUBTASK_FINISHED)
        )
        assert started < finished
    assert events[-1].data["status"] == record.status.value
    assert all(e.data["job_id"] == record.job_id for e in events)


def test_submit_wait_get_list_events_and_cancel(client: Client) -> None:
    job_id = client.submit("Explain {x}", context={"x": "generators"}, options=QUICK)

    record = client.wait(job_id, timeout_s=WAIT_S)
    assert record.job_id == job_id and record.status is JobStatus.SUCCEEDED
    assert record.plan is not None and 1 <= record.subtasks_total <= 2
    assert len(record.results) == record.subtasks_total == len(record.plan.subtasks)
    assert record.request.tenant == "alice" and record.request.context == {"x": "generators"}
    assert client.get(job_id) == record

    page = client.list(status=JobStatus.SUCCEEDED, limit=100)
    assert job_id in {r.job_id for r in page.jobs}
    assert all(r.status is JobStatus.SUCCEEDED for r in page.jobs)
    assert job_id not in {r.job_id for r in client.list(status="failed", limit=100).jobs}

    events = list(client.events(job_id))
    check_events(events, record)
    assert list(client.events(job_id, last_event_id=events[1].id)) == events[2:]

    # Cancelling a job that is over changes nothing, however often.
    assert client.cancel(job_id) == record
    assert client.cancel(job_id) == record


def test_cancel_a_running_job_ends_it_cancelled(client: Client) -> None:
    job_id = client.submit("Cancel me", options={"max_subtasks": 5})
    cancelled = client.cancel(job_id)
    assert cancelled.status is JobStatus.CANCELLED
    assert client.wait(job_id, timeout_s=WAIT_S).status is JobStatus.CANCELLED
    events = list(client.events(job_id))
    assert events[-1].kind is EventKind.CANCELLED
    assert [e for e in events if e.kind.is_last] == events[-1:]


def test_unknown_and_other_tenants_jobs_are_not_found(client: Client, api_url: str) -> None:
    for call in (client.get, client.cancel, client.wait, lambda j: list(client.events(j))):
        with pytest.raises(JobNotFound) as caught:
            call("no-such-job")
        assert caught.value.job_id == "no-such-job"

    job_id = client.submit("Alice's job", options=QUICK)
    with Client(api_url, BOB) as bob:
        with pytest.raises(JobNotFound):
            bob.get(job_id)
        with pytest.raises(JobNotFound):
            bob.cancel(job_id)
        assert job_id not in {r.job_id for r in bob.list(limit=100).jobs}
    client.wait(job_id, timeout_s=WAIT_S)


def test_invalid_requests_raise_and_enqueue_nothing(client: Client) -> None:
    before = [r.job_id for r in client.list(limit=100).jobs]
    with pytest.raises(InvalidRequest, match="task: task must not be empty"):
        client.submit("")
    with pytest.raises(InvalidRequest, match=r"options\.max_subtasks"):
        client.submit("ok", options={"max_subtasks": 10_000})
    with pytest.raises(InvalidRequest, match="job_id"):
        client.submit("ok", job_id="../etc")
    with pytest.raises(InvalidRequest, match="status"):
        client.list(status="done")
    with pytest.raises(InvalidRequest, match="limit"):
        client.list(limit=0)
    assert [r.job_id for r in client.list(limit=100).jobs] == before


def test_idempotency_key_returns_the_same_job_and_refuses_another_body(client: Client) -> None:
    key = f"py-client-{free_port()}"
    job_id = client.submit("Same body", options=QUICK, idempotency_key=key)
    assert client.submit("Same body", options=QUICK, idempotency_key=key) == job_id
    with pytest.raises(ApiError) as caught:
        client.submit("Other body", options=QUICK, idempotency_key=key)
    assert caught.value.status == 409 and "Idempotency-Key" in caught.value.message
    client.wait(job_id, timeout_s=WAIT_S)


def test_a_wrong_token_is_a_401_that_does_not_show_it(api_url: str) -> None:
    wrong = "wrong-token-0123456789"
    with Client(api_url, wrong) as client, pytest.raises(ApiError) as caught:
        client.list()
    assert caught.value.status == 401 and wrong not in str(caught.value)


def test_an_api_that_is_not_there_is_unavailable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with Client(url, ALICE) as client, pytest.raises(ApiUnavailable) as caught:
        client.get("job")
    assert str(caught.value) == f"cannot reach the Chorus API at {url}: ConnectError"


def test_wait_follows_events_and_reads_the_record_once(api_url: str, sim: SimulatorControl) -> None:
    transport = CountingTransport()
    with Client(api_url, ALICE, transport=transport) as client:
        job_id = client.submit("Count my requests", options=QUICK)
        transport.seen.clear()
        record = client.wait(job_id, timeout_s=WAIT_S)
    assert record.status is JobStatus.SUCCEEDED
    assert transport.seen == {f"GET /v1/jobs/{job_id}/events": 1, f"GET /v1/jobs/{job_id}": 1}


def test_async_client_submits_waits_and_follows_events(api_url: str, sim: SimulatorControl) -> None:
    transport = AsyncCountingTransport()

    async def scenario() -> tuple[JobRecord, list[JobEvent], JobRecord, list[JobRecord]]:
        async with AsyncClient(api_url, ALICE, transport=transport) as client:
            job_id = await client.submit("Async job", options=QUICK)
            transport.seen.clear()
            record = await client.wait(job_id, timeout_s=WAIT_S)
            waited = dict(transport.seen)
            assert waited == {f"GET /v1/jobs/{job_id}/events": 1, f"GET /v1/jobs/{job_id}": 1}
            events = [event async for event in client.events(job_id)]
            page = await client.list(status=JobStatus.SUCCEEDED, limit=100)
            return record, events, await client.get(job_id), page.jobs

    record, events, again, listed = asyncio.run(asyncio.wait_for(scenario(), WAIT_S * 2))
    assert record.status is JobStatus.SUCCEEDED and again == record
    assert len(record.results) == record.subtasks_total
    check_events(events, record)
    assert record.job_id in {r.job_id for r in listed}


def test_async_client_maps_errors_too(api_url: str) -> None:
    async def scenario() -> None:
        async with AsyncClient(api_url, ALICE) as client:
            with pytest.raises(JobNotFound):
                await client.get("no-such-job")
            with pytest.raises(JobNotFound):
                [e async for e in client.events("no-such-job")]
            with pytest.raises(InvalidRequest, match="task"):
                await client.submit(" ")

    asyncio.run(asyncio.wait_for(scenario(), WAIT_S))
