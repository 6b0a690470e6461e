"""The HTTP API as a real server process in front of the real stack."""

from __future__ import annotations

import http.client
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chorus.client.http import Client
from chorus.contract import names
from chorus.contract.models import JobRecord, JobStatus
from chorus.devstack.stack import LocalStack, ManagedProcess, free_port
from chorus.errors import JobNotFound
from chorus.store.jobs import JobStore
from tests.support.simulator_control import SimulatorControl
from tests.support.waiting import wait_until

ALICE = "alice-token-0123456789"
BOB = "bob-token-0123456789abc"
METRICS_TOKEN = "metrics-token-0123456789"


class Api:
    def __init__(self, url: str) -> None:
        self.url = url

    def call(
        self, method: str, path: str, body: Any = None, *, token: str | None = ALICE,
        headers: dict[str, str] | None = None, raw: bytes | None = None,
    ) -> tuple[int, dict[str, str], Any]:  # fmt: skip
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310
        request.add_header("content-type", "application/json")
        if token:
            request.add_header("authorization", f"Bearer {token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status, dict(response.headers), json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), json.loads(error.read() or b"null")

    def wait(self, job_id: str, token: str = ALICE, timeout_s: float = 60) -> JobRecord:
        seen: list[JobRecord] = []

        def final() -> bool:
            status, _, body = self.call("GET", f"/v1/jobs/{job_id}", token=token)
            assert status == 200, body
            seen.append(JobRecord.model_validate(body))
            return seen[-1].status.is_final

        wait_until(final, timeout_s=timeout_s, every_s=0.1, what=f"job {job_id} to end")
        return seen[-1]


@pytest.fixture(scope="module")
def api(chorus_stack: LocalStack, workdir: Path) -> Iterator[Api]:
    port = free_port()
    env = {
        **chorus_stack.env,
        "CHORUS_API_TOKENS": f"alice:{ALICE},bob:{BOB}",
        "CHORUS_METRICS_TOKEN": METRICS_TOKEN,
    }
    proc = ManagedProcess(
        "api",
        [sys.executable, "-m", "chorus.cli", "api", "--port", str(port)],
        env=env,
        log_path=workdir / "api.log",
    )
    client = Api(f"http://127.0.0.1:{port}")

    def up() -> bool:
        assert proc.alive(), proc.log_text()
        try:
            return client.call("GET", "/healthz", token=None)[0] == 200
        except OSError:
            return False

    wait_until(up, timeout_s=30, what="the API")
    yield client
    proc.stop()


def test_submit_poll_and_read_a_job(api: Api, sim: SimulatorControl) -> None:
    status, headers, body = api.call(
        "POST", "/v1/jobs", {"task": "Explain {x}", "options": {"max_subtasks": 2}}
    )
    assert status == 202
    assert headers["location"] == f"/v1/jobs/{body['job_id']}" == body["location"]
    record = api.wait(body["job_id"])
    assert record.status is JobStatus.SUCCEEDED and record.request.tenant == "alice"

    status, _, page = api.call("GET", "/v1/jobs?limit=5&status=succeeded")
    assert status == 200 and page["jobs"][0]["job_id"] == record.job_id


def test_idempotency_key_same_body_same_job_other_body_409(api: Api) -> None:
    key = {"idempotency-key": f"k-{time.time()}"}
    first = api.call("POST", "/v1/jobs", {"task": "Same body"}, headers=key)
    again = api.call("POST", "/v1/jobs", {"task": "Same body"}, headers=key)
    other = api.call("POST", "/v1/jobs", {"task": "Other body"}, headers=key)
    assert first[0] == again[0] == 202 and first[2]["job_id"] == again[2]["job_id"]
    assert other[0] == 409 and "Idempotency-Key" in other[2]["error"]


def test_tenants_see_only_their_jobs_and_bad_tokens_get_401(api: Api) -> None:
    _, _, body = api.call("POST", "/v1/jobs", {"task": "Alice's job"})
    assert api.call("GET", f"/v1/jobs/{body['job_id']}", token=BOB)[0] == 404
    listed = api.call("GET", "/v1/jobs?limit=100", token=BOB)[2]["jobs"]
    assert body["job_id"] not in {j["job_id"] for j in listed}
    # Alice's job id means nothing to Bob: his job under it is his own, and hers is untouched.
    taken = {"task": "x", "job_id": body["job_id"]}
    status, _, his = api.call("POST", "/v1/jobs", taken, token=BOB)
    assert status == 202 and his["job_id"] != body["job_id"]
    assert api.call("GET", f"/v1/jobs/{body['job_id']}")[2]["request"]["task"] == "Alice's job"
    for token in (None, "wrong-token-0123456789"):
        status, headers, error = api.call("GET", "/v1/jobs", token=token)
        assert status == 401 and headers["www-authenticate"] == "Bearer" and error["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"task": ""}, "task"),
        ({}, "task"),
        ({"task": "ok", "context": [1]}, "context"),
        ({"task": "ok", "options": {"max_subtasks": 10_000}}, "options.max_subtasks"),
        ({"task": "x" * 100_001}, "task"),
        ("just a string", "body"),
    ],
)
def test_bad_bodies_get_422_naming_the_field_and_enqueue_nothing(
    api: Api, body: Any, field: str
) -> None:
    before = [j["job_id"] for j in api.call("GET", "/v1/jobs?limit=100")[2]["jobs"]]
    status, _, error = api.call("POST", "/v1/jobs", body)
    assert status == 422
    assert field in {f["field"] for f in error["fields"]}
    assert "Traceback" not in json.dumps(error)
    after = [j["job_id"] for j in api.call("GET", "/v1/jobs?limit=100")[2]["jobs"]]
    assert after == before  # nothing recorded, nothing enqueued


def test_malformed_json_and_oversized_bodies_are_clear_errors(api: Api) -> None:
    assert api.call("POST", "/v1/jobs", raw=b'{"task": ')[0] == 422
    assert api.call("POST", "/v1/jobs", raw=b"\xff\xfe not utf-8")[0] == 422
    # Declared, not sent: the API answers from the header without reading a byte of body.
    host, port = api.url.removeprefix("http://").split(":")
    # Neither Content-Length nor Transfer-Encoding: no body at all, so the request is
    # validated (and a job needs a task); a chunked body gets 411 (test_hostile_api.py).
    for headers, expected in (({"content-length": "600001"}, 413), ({}, 422)):
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.putrequest("POST", "/v1/jobs")
        conn.putheader("authorization", f"Bearer {ALICE}")
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == expected
        assert "error" in json.loads(response.read())
        conn.close()


def test_openapi_docs_and_health(api: Api) -> None:
    status, _, spec = api.call("GET", "/openapi.json", token=None)
    assert status == 200 and "/v1/jobs" in spec["paths"] and spec["openapi"].startswith("3.")
    assert api.call("GET", "/readyz", token=None)[2] == {
        "ready": True, "redis": True, "orchestrator": True, "worker": True,
    }  # fmt: skip


def test_cancel_is_idempotent_and_tenant_scoped(api: Api) -> None:
    _, _, body = api.call("POST", "/v1/jobs", {"task": "Long job", "options": {"max_subtasks": 5}})
    job = f"/v1/jobs/{body['job_id']}/cancel"
    assert api.call("POST", job, token=BOB)[0] == 404
    first = api.call("POST", job)
    again = api.call("POST", job)
    assert first[0] == again[0] == 200
    assert first[2]["status"] == again[2]["status"] == "cancelled"
    assert api.wait(body["job_id"]).status is JobStatus.CANCELLED


def read_events(
    api: Api, job_id: str, last_id: str | None = None
) -> list[tuple[str, str, dict[str, Any]]]:
    """The job's progress events; the workers' text (`subtask_delta`, whose order against
    other subtasks' events within a millisecond is free) is `test_live_events.py`'s."""
    url = f"{api.url}/v1/jobs/{job_id}/events?deltas=false"
    request = urllib.request.Request(url)  # noqa: S310
    request.add_header("authorization", f"Bearer {ALICE}")
    if last_id:
        request.add_header("last-event-id", last_id)
    events: list[tuple[str, str, dict[str, Any]]] = []
    current: dict[str, str] = {}
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        assert response.headers["content-type"].startswith("text/event-stream")
        for raw in response:
            line = raw.decode().rstrip("\n")
            if not line:
                if "event" in current:
                    events.append((current["id"], current["event"], json.loads(current["data"])))
                current = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                current[name] = value
    return events


def test_events_arrive_in_order_and_resume_after_reconnect(api: Api) -> None:
    _, _, body = api.call(
        "POST", "/v1/jobs", {"task": "Events job", "options": {"max_subtasks": 3}}
    )
    events = read_events(api, body["job_id"])
    kinds = [kind for _, kind, _ in events]

    assert kinds[0] == "planned" and kinds[-1] == "job_finished"
    n = events[0][2]["subtasks"]
    assert kinds.count("subtask_started") == kinds.count("subtask_finished") == n
    for index in range(n):
        started = next(
            i for i, e in enumerate(events) if e[1] == "subtask_started" and e[2]["index"] == index
        )
        finished = next(
            i for i, e in enumerate(events) if e[1] == "subtask_finished" and e[2]["index"] == index
        )
        assert started < finished
    assert events[-1][2]["status"] == "succeeded"
    # What a watcher needs without reading the record: types, then spend and time.
    record = api.wait(body["job_id"])
    assert events[0][2]["types"] == [s.type for s in record.plan.subtasks]  # type: ignore[union-attr]
    said_by_index = {e[2]["index"]: e[2] for e in events if e[1] == "subtask_finished"}
    for result in record.results:
        said = said_by_index[result.index]
        assert (said["tokens"], said["cost_usd"]) == (
            result.usage.total_tokens,
            round(result.usage.cost_usd, 6),
        )
        assert said["duration_s"] is not None and said["duration_s"] >= 0
        assert said["model"] == result.model and said["attempts"] == result.attempts
    ended = events[-1][2]
    assert ended["tokens"] == record.usage.total_tokens
    assert ended["cost_usd"] == round(record.usage.cost_usd, 6) and ended["duration_s"] > 0

    resumed = read_events(api, body["job_id"], last_id=events[1][0])
    assert resumed == events[2:]


def test_python_client_submit_follow_wait_cancel_and_list(api: Api) -> None:
    with Client(api.url, ALICE) as client:
        job_id = client.submit("Client job", options={"max_subtasks": 2}, idempotency_key="ck-1")
        assert client.submit("Client job", options={"max_subtasks": 2}, idempotency_key="ck-1") == (
            job_id
        )
        kinds = [e.kind.value for e in client.events(job_id)]
        assert kinds[0] == "planned" and kinds[-1] == "job_finished"
        record = client.wait(job_id, timeout_s=30)
        assert record.status is JobStatus.SUCCEEDED
        assert client.cancel(job_id).status is JobStatus.SUCCEEDED  # over already: unchanged
        page = client.list(status=JobStatus.SUCCEEDED, limit=50)
        assert job_id in {r.job_id for r in page.jobs}
    with Client(api.url, BOB) as other, pytest.raises(JobNotFound) as caught:
        other.get(job_id)
    assert caught.value.job_id == job_id


def test_openapi_spec_validates(api: Api) -> None:
    from openapi_spec_validator import validate

    validate(api.call("GET", "/openapi.json", token=None)[2])


def test_listing_pages_newest_first_with_a_cursor(api: Api) -> None:
    ids = [
        api.call("POST", "/v1/jobs", {"task": f"Page job {n}"}, token=BOB)[2]["job_id"]
        for n in range(3)
    ]
    _, _, first = api.call("GET", "/v1/jobs?limit=2", token=BOB)
    _, _, second = api.call("GET", f"/v1/jobs?limit=2&cursor={first['next_cursor']}", token=BOB)
    seen = [j["job_id"] for j in first["jobs"] + second["jobs"]]
    assert seen[:3] == ids[::-1] and len(seen) == len(set(seen))


def _scrape(api: Api, token: str | None) -> tuple[int, str]:
    request = urllib.request.Request(api.url + "/metrics")  # noqa: S310
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in metrics:\n{text}")


def test_metrics_count_jobs_subtasks_tokens_and_need_their_own_token(
    api: Api, store: JobStore
) -> None:
    assert _scrape(api, None)[0] == 401
    assert _scrape(api, ALICE)[0] == 401  # a tenant's token does not open fleet-wide figures
    # Earlier tests' jobs finish first, so the counters below move for this job alone.
    wait_until(
        lambda: store._redis.zcard(names.ACTIVE_JOBS_KEY) == 0, timeout_s=60, what="no job active"
    )
    status, before = _scrape(api, METRICS_TOKEN)
    assert status == 200
    _, _, body = api.call("POST", "/v1/jobs", {"task": "Count me", "options": {"max_subtasks": 3}})
    record = api.wait(body["job_id"])
    assert record.status is JobStatus.SUCCEEDED
    _, after = _scrape(api, METRICS_TOKEN)

    def grew(name: str) -> float:
        earlier = _sample(before, name) if f"\n{name} " in f"\n{before}" else 0.0
        return _sample(after, name) - earlier

    # Exact: each event counted once.
    assert grew("chorus_jobs_submitted_total") == 1
    assert grew('chorus_jobs_finished_total{status="succeeded"}') == 1
    assert grew('chorus_subtasks_finished_total{status="succeeded"}') == record.subtasks_total
    assert grew("chorus_subtask_duration_seconds_count") == record.subtasks_total
    model = record.results[0].model
    assert model != record.orchestrator_model
    assert grew(f'chorus_model_tokens_total{{kind="output",model="{model}"}}') == sum(
        r.usage.output_tokens for r in record.results
    )
    planner = f'chorus_model_tokens_total{{kind="output",model="{record.orchestrator_model}"}}'
    assert grew(planner) == record.planning_usage.output_tokens
    # Spend by tenant, in tokens and dollars: the job's whole usage, under its tenant.
    tenant = record.request.tenant
    assert tenant is not None
    for kind, tokens in (("input", record.usage.input_tokens),
                         ("output", record.usage.output_tokens)):  # fmt: skip
        assert grew(f'chorus_tenant_tokens_total{{kind="{kind}",tenant="{tenant}"}}') == tokens
    worker_cost = sum(r.usage.cost_usd for r in record.results)
    spent = grew(f'chorus_cost_usd_total{{model="{model}",tenant="{tenant}"}}')
    assert spent == pytest.approx(worker_cost) and worker_cost > 0
    planned = f'chorus_cost_usd_total{{model="{record.orchestrator_model}",tenant="{tenant}"}}'
    assert grew(planned) == pytest.approx(record.planning_usage.cost_usd)
    assert 'chorus_queue_depth{queue="subtasks"}' in after
    assert "chorus_retries_total" in after and "chorus_messages_unacked" in after


def test_cancel_needs_no_body(api: Api) -> None:
    """`curl -X POST …/cancel` sends neither a body nor a Content-Length."""
    _, _, body = api.call("POST", "/v1/jobs", {"task": "Cancel me bare", "options": {}})
    host, port = api.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.putrequest("POST", f"/v1/jobs/{body['job_id']}/cancel")
        conn.putheader("authorization", f"Bearer {ALICE}")
        conn.endheaders()
        response = conn.getresponse()
        answer = json.loads(response.read())
    finally:
        conn.close()
    assert response.status == 200, answer
    assert answer["job_id"] == body["job_id"] and answer["status"] in ("cancelled", "succeeded")
