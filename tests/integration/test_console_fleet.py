"""The console's Fleet page on a real `chorus api` in front of the real stack, two tenants."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from chorus.contract import names
from chorus.contract.models import SubtaskResult, SubtaskStatus, Usage
from chorus.core import fleet_buckets
from chorus.devstack.stack import LocalStack
from chorus.settings import Settings
from chorus.store.jobs import JobStore
from tests.support.api_server import start_api
from tests.support.fixtures import wait_quiet
from tests.support.simulator_control import SimulatorControl
from tests.support.waiting import wait_until

CAROL = "carol-fleet-0123456789ab"
DAVE = "dave-fleet-0123456789abc"
CSP = "default-src 'none'; script-src 'self'"
ROLE = re.compile(r'<tr class="process"><td><code>[^<]*</code></td><td>(\w+)</td></tr>')
QUEUE = re.compile(r'<tr class="queue"><td>(\w+)</td><td>([\d,]+)</td></tr>')
MINUTE = re.compile(r"<title>(?:this minute|\d+ min ago): (\d+) jobs</title>")


@pytest.fixture(scope="module")
def api_url(chorus_stack: LocalStack, workdir: Path) -> Iterator[str]:
    env = {**chorus_stack.env, "CHORUS_API_TOKENS": f"carol:{CAROL},dave:{DAVE}"}
    proc, url = start_api(env, workdir / "api-fleet.log")
    yield url
    proc.stop()


@pytest.fixture(scope="module")
def carol_job(
    api_url: str, chorus_stack: LocalStack, simulator: SimulatorControl
) -> dict[str, Any]:
    """Carol's one job of this run, finished; on a clean, quiet simulator (a module fixture
    runs before each test's own clean start)."""
    wait_quiet(chorus_stack, simulator)
    simulator.reset()
    body = {"task": f"Fleet {uuid.uuid4().hex}", "options": {"max_subtasks": 3}}
    auth = {"authorization": f"Bearer {CAROL}"}
    answer = httpx.post(f"{api_url}/v1/jobs", json=body, headers=auth, timeout=10)
    assert answer.status_code == 202, answer.text
    seen: list[dict[str, Any]] = []

    def final() -> bool:
        got = httpx.get(f"{api_url}/v1/jobs/{answer.json()['job_id']}", headers=auth, timeout=10)
        seen.append(got.json())
        return seen[-1]["status"] in {"succeeded", "partial", "failed"}

    wait_until(final, timeout_s=60, every_s=0.1, what=lambda: f"Carol's job final: {seen[-1:]}")
    return seen[-1]


def signed_in(url: str, token: str) -> httpx.Client:
    browser = httpx.Client(base_url=url, timeout=10)
    form = browser.get("/ui/login").text
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', form)
    assert found, "no CSRF field on the sign-in form"
    answer = browser.post("/ui/login", data={"token": token, "csrf": found.group(1)})
    assert answer.status_code == 303, answer.text
    return browser


def dollars(cost: float) -> str:
    """As the page writes dollars (`console.html.dollars`), independently."""
    return f"${cost:.4f}" if cost < 1 else f"${cost:,.2f}"


def spend_by_model(job: dict[str, Any]) -> dict[str, float]:
    """What the job paid each model: planning and synthesis to the orchestrator's model, each
    subtask to its own."""
    spent = {job["orchestrator_model"]: 0.0}
    spent[job["orchestrator_model"]] += job["planning_usage"]["cost_usd"]
    spent[job["orchestrator_model"]] += job["synthesis_usage"]["cost_usd"]
    for result in job["results"]:
        model = result["model"] or "unknown"
        spent[model] = spent.get(model, 0.0) + result["usage"]["cost_usd"]
    return {m: c for m, c in spent.items() if c}


def test_the_fleet_page_needs_a_session_and_is_linked_from_every_page(api_url: str) -> None:
    assert httpx.get(api_url + "/ui/fleet", timeout=10).headers["location"] == "/ui/login"
    assert '<a href="/ui/fleet">Fleet</a>' in signed_in(api_url, DAVE).get("/ui").text


def test_the_fleet_page_shows_processes_queues_and_the_tenants_finished_job_and_spend(
    api_url: str, carol_job: dict[str, Any], redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    depths = [client.llen(q) for q in (names.ORCHESTRATOR_QUEUE, names.SUBTASKS_QUEUE)]
    answer = signed_in(api_url, CAROL).get("/ui/fleet")
    again = [client.llen(q) for q in (names.ORCHESTRATOR_QUEUE, names.SUBTASKS_QUEUE)]
    page = answer.text
    assert answer.status_code == 200 and answer.headers["content-security-policy"].startswith(CSP)
    roles = ROLE.findall(page)
    assert roles.count("orchestrator") >= 1 and roles.count("worker") >= 1, roles
    assert f"<b>{len(roles)}</b> online" in page
    queues = {q: int(n.replace(",", "")) for q, n in QUEUE.findall(page)}
    assert set(queues) == {names.ORCHESTRATOR_QUEUE, names.SUBTASKS_QUEUE}
    if depths == again:  # the depths held still while the page was read
        assert list(queues.values()) == depths
    assert re.search(r'<tr class="in-flight"><td>[^<]+</td><td>[\d,]+</td></tr>', page)
    per_minute = [int(n) for n in MINUTE.findall(page)]
    assert len(per_minute) == fleet_buckets.WINDOW_MINUTES and sum(per_minute) == 1, per_minute
    assert "1 jobs finished in the last hour" in page
    cost = carol_job["usage"]["cost_usd"]
    assert cost > 0
    assert f"<td>carol</td><td>all models</td><td>{dollars(cost)}</td>" in page
    for model, spent in spend_by_model(carol_job).items():
        assert f"<td>carol</td><td>{model}</td><td>{dollars(spent)}</td>" in page
    ttls = [client.ttl(k) for k in client.scan_iter(names.fleet_minute_key(0)[:-1] + "*")]
    assert ttls and all(0 < t <= fleet_buckets.BUCKET_TTL_S for t in ttls), ttls


def test_another_tenants_fleet_page_shows_none_of_the_first_tenants_jobs_or_spend(
    api_url: str, carol_job: dict[str, Any]
) -> None:
    page = signed_in(api_url, DAVE).get("/ui/fleet").text
    assert "carol" not in page and 'class="spend-model"' not in page
    assert "<td>dave</td><td>all models</td><td>$0.0000</td>" in page
    assert "0 jobs finished in the last hour" in page
    assert sum(int(n) for n in MINUTE.findall(page)) == 0


def test_a_result_saved_again_adds_nothing_more_to_its_minute_bucket(settings: Settings) -> None:
    store = JobStore.from_settings(settings)
    now = datetime.now(UTC)
    paid = SubtaskResult(
        index=0, type="t", description="d", status=SubtaskStatus.SUCCEEDED, output="x",
        model="m-fleet", usage=Usage(input_tokens=3, cost_usd=0.125), finished_at=now,
    )  # fmt: skip
    key = names.fleet_minute_key(fleet_buckets.epoch_minute(now))
    job_id = f"fleet-{uuid.uuid4().hex}"
    before = store.client.hgetall(key)
    for _ in range(3):  # the first write and two redeliveries
        store.save_result(job_id, paid, "erin")
    after = store.client.hgetall(key)

    def grew(field: str) -> float:
        return float(after.get(field, 0)) - float(before.get(field, 0))

    # Only this test spends on m-fleet for erin; the bucket's global `subtasks_finished`, bumped
    # by the same atomic script, also moves with any other job of the minute.
    assert grew("cost:m-fleet:erin") == 0.125
    assert 0 < store.client.ttl(key) <= fleet_buckets.BUCKET_TTL_S
    store.close()
