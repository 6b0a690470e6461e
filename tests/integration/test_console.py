"""The console under /ui on a real `chorus api` in front of the real stack, two tenants."""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chorus.devstack.stack import LocalStack, ManagedProcess, free_port
from tests.support.api_server import idle_api
from tests.support.fixtures import wait_quiet
from tests.support.simulator_control import SimulatorControl
from tests.support.waiting import wait_until

ALICE = "alice-console-0123456789"
BOB = "bob-console-0123456789ab"
SCRIPT = "<script>alert(1)</script>"
CSP = "default-src 'none'; script-src 'self'"
IDLE_DB = 9  # no orchestrator consumes it: a submitted job stays `planning`


@pytest.fixture(scope="module")
def api_url(chorus_stack: LocalStack, workdir: Path) -> Iterator[str]:
    port = free_port()
    env = {**chorus_stack.env, "CHORUS_API_TOKENS": f"alice:{ALICE},bob:{BOB}"}
    proc = ManagedProcess(
        "api-console",
        [sys.executable, "-m", "chorus.cli", "api", "--port", str(port)],
        env=env,
        log_path=workdir / "api-console.log",
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.alive(), proc.log_text()
        try:
            return httpx.get(url + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, timeout_s=30, what="the API")
    yield url
    proc.stop()


def submit(url: str, token: str, task: str, **options: Any) -> str:
    body = {"task": task, "options": {"max_subtasks": 3, **options}}
    answer = httpx.post(f"{url}/v1/jobs", json=body, headers=_bearer(token), timeout=10)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["job_id"])


def job(url: str, token: str, job_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{url}/v1/jobs/{job_id}", headers=_bearer(token), timeout=10)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def wait_status(url: str, job_id: str, done: set[str]) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    def reached() -> bool:
        seen.append(job(url, ALICE, job_id))
        return seen[-1]["status"] in done

    wait_until(reached, timeout_s=60, every_s=0.1, what=lambda: f"{job_id} in {done}: {seen[-1:]}")
    return seen[-1]


@pytest.fixture(scope="module")
def alice_job(
    api_url: str, chorus_stack: LocalStack, simulator: SimulatorControl
) -> dict[str, Any]:
    """A finished job of Alice's whose task holds markup. Made before any test's own clean
    start (a module fixture comes first), so it cleans the shared simulator itself."""
    wait_quiet(chorus_stack, simulator)
    simulator.reset()
    job_id = submit(api_url, ALICE, f"Console {uuid.uuid4().hex} {SCRIPT}")
    return wait_status(api_url, job_id, {"succeeded", "partial", "failed"})


def signed_in(url: str, token: str) -> httpx.Client:
    browser = httpx.Client(base_url=url, timeout=10)
    answer = browser.post("/ui/login", data={"token": token, "csrf": csrf(browser, "/ui/login")})
    assert answer.status_code == 303 and answer.headers["location"] == "/ui", answer.text
    return browser


def csrf(browser: httpx.Client, path: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', browser.get(path).text)
    assert found, f"no CSRF field on {path}"
    return found.group(1)


def test_a_wrong_token_gets_the_form_again_and_a_right_one_a_strict_cookie(api_url: str) -> None:
    browser = httpx.Client(base_url=api_url, timeout=10)
    token = csrf(browser, "/ui/login")
    wrong = browser.post("/ui/login", data={"token": "wrong-token-0123456789", "csrf": token})
    assert wrong.status_code == 401 and "Unknown token." in wrong.text and "<form" in wrong.text
    assert "set-cookie" not in wrong.headers
    right = browser.post("/ui/login", data={"token": ALICE, "csrf": token})
    assert right.status_code == 303
    cookie = right.headers["set-cookie"]
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert cookie.startswith(f"chorus_session={ALICE};")
    assert {"httponly", "samesite=strict", "path=/ui"} <= flags and "secure" not in flags
    assert browser.get("/ui").status_code == 200
    assert browser.get("/ui/logout").status_code == 303
    assert browser.get("/ui").headers["location"] == "/ui/login"


def test_sign_in_without_the_form_token_is_forbidden(api_url: str) -> None:
    answer = httpx.post(f"{api_url}/ui/login", data={"token": ALICE}, timeout=10)
    assert answer.status_code == 403 and "set-cookie" not in answer.headers


def test_pages_without_a_session_redirect_to_sign_in(api_url: str) -> None:
    for path in ("/ui", "/ui/jobs/anything"):
        answer = httpx.get(api_url + path, timeout=10)
        assert (answer.status_code, answer.headers["location"]) == (303, "/ui/login")
    forged = httpx.get(api_url + "/ui", cookies={"chorus_session": "forged-0123456789"})
    assert forged.status_code == 303


def test_the_jobs_page_lists_own_jobs_with_their_cost_and_not_others(
    api_url: str, alice_job: dict[str, Any]
) -> None:
    bobs = submit(api_url, BOB, f"Bob's console job {uuid.uuid4().hex}")
    page = signed_in(api_url, ALICE).get("/ui").text
    assert f"/ui/jobs/{alice_job['job_id']}" in page and bobs not in page
    cost = alice_job["usage"]["cost_usd"]
    assert cost > 0 and f"${cost:.4f}" in page
    assert f"/ui/jobs/{alice_job['job_id']}" not in signed_in(api_url, BOB).get("/ui").text


def test_a_job_id_search_opens_the_job_and_a_status_filter_narrows_the_list(
    api_url: str, alice_job: dict[str, Any]
) -> None:
    browser = signed_in(api_url, ALICE)
    opened = browser.get("/ui", params={"id": alice_job["job_id"]})
    assert opened.headers["location"] == f"/ui/jobs/{alice_job['job_id']}"
    other = "failed" if alice_job["status"] != "failed" else "succeeded"
    assert alice_job["job_id"] not in browser.get("/ui", params={"status": other}).text
    found = browser.get("/ui", params={"q": alice_job["request"]["task"][:20].upper()}).text
    assert alice_job["job_id"] in found


def test_another_tenants_job_page_is_not_found(api_url: str, alice_job: dict[str, Any]) -> None:
    bob = signed_in(api_url, BOB)
    assert bob.get(f"/ui/jobs/{alice_job['job_id']}").status_code == 404
    assert bob.get(f"/ui/jobs/{alice_job['job_id']}/timeline").status_code == 404


def test_the_job_page_shows_the_plan_one_bar_per_subtask_and_escaped_text(
    api_url: str, alice_job: dict[str, Any]
) -> None:
    page = signed_in(api_url, ALICE).get(f"/ui/jobs/{alice_job['job_id']}").text
    subtasks = alice_job["plan"]["subtasks"]
    assert subtasks and all(s["description"][:30] in page.replace("&#x27;", "'") for s in subtasks)
    bars = re.findall(r'<g class="bar bar-(succeeded|failed|skipped)">', page)
    assert len(bars) == len(alice_job["results"]) == len(subtasks)
    assert page.count('class="bar bar-planning"') == 1 and "bar-gather" in page
    assert SCRIPT not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count('<details class="result') == len(alice_job["results"])


def test_cancel_needs_the_form_token_and_cancels_a_running_job(
    api_url: str, sim: SimulatorControl
) -> None:
    sim.set_faults([{"match": "<subtask>", "trickle_s": 0.01}])  # subtasks take seconds
    job_id = submit(api_url, ALICE, f"Slow console job {uuid.uuid4().hex}")
    wait_status(api_url, job_id, {"running"})
    browser = signed_in(api_url, ALICE)
    path = f"/ui/jobs/{job_id}"
    token = csrf(browser, path)
    assert browser.post(f"{path}/cancel", data={}).status_code == 403
    assert browser.post(f"{path}/cancel", data={"csrf": "0" * 64}).status_code == 403
    assert job(api_url, ALICE, job_id)["status"] == "running"
    done = browser.post(f"{path}/cancel", data={"csrf": token})
    assert (done.status_code, done.headers["location"]) == (303, path)
    assert job(api_url, ALICE, job_id)["status"] == "cancelled"
    again = browser.post(f"{path}/cancel", data={"csrf": token})  # idempotent
    assert again.status_code == 303 and "Cancel job" not in browser.get(path).text


def test_every_ui_response_has_the_security_headers_and_no_link_leaves_the_host(
    api_url: str, alice_job: dict[str, Any]
) -> None:
    browser = signed_in(api_url, ALICE)
    job_path = f"/ui/jobs/{alice_job['job_id']}"
    paths = ["/ui", job_path, f"{job_path}/timeline", "/ui/jobs/nope", "/ui/logout"]
    paths += ["/ui/static/console.css", "/ui/static/console.js"]
    answers = [browser.get(p) for p in paths] + [httpx.get(api_url + "/ui/login", timeout=10)]
    for answer in answers:
        headers = answer.headers
        assert headers["content-security-policy"].startswith(CSP), answer.url
        assert headers["x-content-type-options"] == "nosniff"
        assert (headers["referrer-policy"], headers["cache-control"]) == ("no-referrer", "no-store")
        for link in re.findall(r'(?:src|href|action)="([^"]*)"', answer.text):
            local = link.startswith("/") and not link.startswith("//")
            assert local or link == "data:,", (answer.url, link)  # data:, the empty icon


def test_with_no_tokens_the_loopback_console_needs_no_sign_in(
    redis_url: str, workdir: Path
) -> None:
    with idle_api(redis_url, IDLE_DB, workdir / "console-open-api.log") as (_, url, _db):
        answer = httpx.post(f"{url}/v1/jobs", json={"task": f"Open {SCRIPT}"}, timeout=10)
        job_id = answer.json()["job_id"]
        browser = httpx.Client(base_url=url, timeout=10)
        assert browser.get("/ui/login").headers["location"] == "/ui"
        listed = browser.get("/ui")
        assert listed.status_code == 200 and f"/ui/jobs/{job_id}" in listed.text
        page = browser.get(f"/ui/jobs/{job_id}").text
        assert "bar-planning" in page and "data-live=" in page  # a live page, still planning
        done = browser.post(
            f"/ui/jobs/{job_id}/cancel", data={"csrf": csrf(browser, f"/ui/jobs/{job_id}")}
        )
        assert done.status_code == 303
        assert httpx.get(f"{url}/v1/jobs/{job_id}", timeout=10).json()["status"] == "cancelled"


def test_a_job_page_follows_the_same_server_sent_events_as_the_api_for_its_owner_only(
    api_url: str, alice_job: dict[str, Any]
) -> None:
    job_id = alice_job["job_id"]
    path = f"/ui/jobs/{job_id}/events"
    api = httpx.get(f"{api_url}/v1/jobs/{job_id}/events", headers=_bearer(ALICE), timeout=10)
    # The job is over: both streams hand over every event at once and end.
    mine = signed_in(api_url, ALICE).get(path)
    assert mine.status_code == 200 and mine.headers["content-type"].startswith("text/event-stream")
    kinds = re.findall(r"^event: (\w+)$", mine.text, re.MULTILINE)
    assert kinds[0] == "planned" and kinds[-1] == "job_finished", kinds
    assert mine.text == api.text
    first = re.findall(r"^id: (\S+)$", mine.text, re.MULTILINE)[0]
    resumed = signed_in(api_url, ALICE).get(path, headers={"last-event-id": first})
    assert f"id: {first}\n" not in resumed.text and resumed.text == mine.text.split("\n\n", 1)[1]
    assert signed_in(api_url, BOB).get(path).status_code == 404
    assert httpx.get(api_url + path, timeout=10).status_code == 401
    forged = httpx.get(api_url + path, cookies={"chorus_session": "forged-0123456789"}, timeout=10)
    assert forged.status_code == 401


def test_the_job_page_links_to_flower_only_when_its_url_is_set(
    api_url: str, alice_job: dict[str, Any], redis_url: str, workdir: Path
) -> None:
    page = signed_in(api_url, ALICE).get(f"/ui/jobs/{alice_job['job_id']}").text
    assert "Tasks in Flower" not in page
    flower = {"CHORUS_FLOWER_URL": "http://flower.example:5555/"}
    with idle_api(redis_url, IDLE_DB, workdir / "console-flower-api.log", flower) as (_, url, _db):
        job_id = httpx.post(f"{url}/v1/jobs", json={"task": "Flower link"}, timeout=10).json()
        page = httpx.get(f"{url}/ui/jobs/{job_id['job_id']}", timeout=10).text
    assert '<a href="http://flower.example:5555/tasks" rel="noreferrer">Tasks in Flower</a>' in page
    assert f"<code>kwargs:job={job_id['job_id']}</code>" in page


def test_outputs_render_as_markdown_and_markup_in_a_task_stays_escaped(
    api_url: str, alice_job: dict[str, Any]
) -> None:
    page = signed_in(api_url, ALICE).get(f"/ui/jobs/{alice_job['job_id']}").text
    written = [r for r in alice_job["results"] if r["output"] is not None]
    assert written and page.count('<div class="markdown">') >= len(written)
    assert SCRIPT not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "style=" not in page and " on" + "error=" not in page


def test_the_profile_filter_shows_only_jobs_run_with_that_profile(api_url: str) -> None:
    tag = uuid.uuid4().hex
    brief = submit(api_url, ALICE, f"Brief {tag}", profile="research-brief")
    ads = submit(api_url, ALICE, f"Ads {tag}", profile="marketing-variations")
    browser = signed_in(api_url, ALICE)
    everything = browser.get("/ui", params={"q": tag}).text
    assert brief in everything and ads in everything
    assert '<option value="research-brief">' in everything
    only = browser.get("/ui", params={"q": tag, "profile": "research-brief"}).text
    assert brief in only and ads not in only
    assert '<option value="research-brief" selected>' in only


def _page_counts(browser: httpx.Client) -> dict[str, int]:
    found = re.findall(r'<b id="count-(\w+)">(\d+)</b>', browser.get("/ui").text)
    return {status: int(n) for status, n in found}


def test_live_counts_match_the_page_need_a_session_and_follow_a_finished_job(
    api_url: str, alice_job: dict[str, Any]
) -> None:
    browser = signed_in(api_url, ALICE)
    page = browser.get("/ui").text
    assert 'data-counts="/ui/counts"' in page
    assert httpx.get(f"{api_url}/ui/counts", timeout=10).status_code == 401
    seen: list[tuple[dict[str, int], ...]] = []

    def steady() -> bool:
        # Other jobs of Alice's may still be moving: equal when no change came between.
        before = dict(browser.get("/ui/counts").json())
        seen.append((before, _page_counts(browser), dict(browser.get("/ui/counts").json())))
        return seen[-1][0] == seen[-1][1] == seen[-1][2]

    wait_until(steady, timeout_s=60, every_s=0.2, what=lambda: f"steady counts: {seen[-1:]}")
    start = seen[-1][0]
    assert sum(start.values()) >= 1 and start[alice_job["status"]] >= 1
    bob = signed_in(api_url, BOB)
    bobs = dict(bob.get("/ui/counts").json())
    job_id = submit(api_url, ALICE, f"Counted {uuid.uuid4().hex}")
    final = wait_status(api_url, job_id, {"succeeded", "partial", "failed"})["status"]
    after = dict(browser.get("/ui/counts").json())
    assert sum(after.values()) == sum(start.values()) + 1
    assert after[final] >= start[final] + 1
    # Bob's own jobs only: Alice's new job is not among them, whatever ran before.
    assert sum(dict(bob.get("/ui/counts").json()).values()) == sum(bobs.values())
