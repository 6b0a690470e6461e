"""The console in a real browser (Debian's Chromium driven by Playwright): sign in, open a job,
see its timeline and an output, with no CSP violation or script error on the way."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from chorus.devstack.stack import LocalStack
from tests.support.api_server import start_api
from tests.support.paths import REPO
from tests.support.simulator_control import SimulatorControl
from tests.support.waiting import wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"  # git-ignored
ALICE = "alice-browser-0123456789"
BOB = "bob-browser-0123456789ab"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def api_url(chorus_stack: LocalStack, workdir: Path) -> Iterator[str]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium not installed: apt-get install -y chromium")
    env = {**chorus_stack.env, "CHORUS_API_TOKENS": f"alice:{ALICE},bob:{BOB}"}
    proc, url = start_api(env, workdir / "api-browser.log")
    yield url
    proc.stop()


def run_job(url: str, task: str, **options: Any) -> str:
    headers = {"authorization": f"Bearer {ALICE}"}
    body = {"task": task, "options": {"max_subtasks": 3, **options}}
    answer = httpx.post(f"{url}/v1/jobs", json=body, headers=headers, timeout=10)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["job_id"])


def status_of(url: str, job_id: str) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {ALICE}"}
    return dict(httpx.get(f"{url}/v1/jobs/{job_id}", headers=headers, timeout=10).json())


def test_sign_in_open_a_job_and_read_its_timeline_and_output_in_chromium(
    api_url: str, sim: SimulatorControl
) -> None:
    from playwright.sync_api import ConsoleMessage, sync_playwright

    job_id = run_job(api_url, f"Browser {uuid.uuid4().hex} <b>not bold</b>")
    seen: list[dict[str, Any]] = []

    def over() -> bool:
        seen.append(status_of(api_url, job_id))
        return seen[-1]["status"] in ("succeeded", "partial", "failed")

    wait_until(over, timeout_s=60, every_s=0.1, what=lambda: f"job {job_id} to end: {seen[-1:]}")
    record = seen[-1]
    problems: list[str] = []

    def heard(message: ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            problems.append(f"{message.type}: {message.text}")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.on("console", heard)
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.goto(f"{api_url}/ui")
            assert page.url.endswith("/ui/login")
            page.fill("input[name=token]", ALICE)
            page.click("button[type=submit]")
            page.wait_for_url(f"{api_url}/ui")
            page.click(f'a[href="/ui/jobs/{job_id}"]')
            page.wait_for_url(f"{api_url}/ui/jobs/{job_id}")

            bars = page.locator("svg.timeline g.bar rect")
            # planning, one per subtask, gather
            assert bars.count() == len(record["plan"]["subtasks"]) + 2
            assert page.locator("svg.timeline").is_visible()
            first = page.locator("details.result").first
            output = first.locator("div.markdown")  # the output, rendered as Markdown
            assert not output.is_visible()
            first.locator("summary").click()
            assert first.get_attribute("open") is not None and output.is_visible()
            assert page.locator("pre.task").inner_text().endswith("<b>not bold</b>")
            assert page.locator("pre.task b").count() == 0  # shown as text, not markup
            # Kept after the run as an artifact to look at (CI can collect test-artifacts/).
            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "console-job-page.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot of the job page: {shot}")
            assert shot.stat().st_size > 0
        finally:
            browser.close()
    assert problems == []


@contextmanager
def chromium_page(problems: list[str]) -> Iterator[Page]:
    """A page in headless Chromium; its script errors and console errors go to `problems`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            yield page
        finally:
            browser.close()


def test_a_running_job_page_follows_the_job_to_its_end_without_a_reload_by_hand(
    api_url: str, sim: SimulatorControl
) -> None:
    from playwright.sync_api import Request

    # About 10 s a subtask: the job must still be running once Chromium has started and signed
    # in, which takes seconds on a loaded machine (3 s subtasks lost that race in two full runs).
    sim.set_faults([{"match": "<subtask>", "trickle_s": 0.012}])
    job_id = run_job(api_url, f"Browser live {uuid.uuid4().hex}", max_subtasks=2)
    problems: list[str] = []
    with chromium_page(problems) as page:
        asked: list[str] = []

        def heard(request: Request) -> None:
            path = request.url.removeprefix(api_url)
            if path.endswith(("/events", "/timeline")):
                asked.append(path.rsplit("/", 1)[1])

        page.on("request", heard)
        sign_in(page, api_url, ALICE)
        # The first timeline fetch comes from an event on the open stream: had the
        # stream failed, the fallback would poll, two seconds on, marked "polling".
        with page.expect_request(lambda r: r.url.endswith("/timeline")):
            page.goto(f"{api_url}/ui/jobs/{job_id}")
        # Set by the script on a live page only, once its EventSource opened.
        assert page.locator("#timeline").get_attribute("data-stream") == "open"
        assert asked[:2] == ["events", "timeline"], asked
        # The script follows the job's events and reloads once the job is final: the
        # page comes to show the final state with nobody touching it.
        page.wait_for_selector("#timeline:not([data-live])", timeout=60_000)
        assert asked.count("events") == 1, asked  # one stream, never a reconnection
        final = status_of(api_url, job_id)
        assert final["status"] in ("succeeded", "partial", "failed")
        assert page.locator("details.result").count() == len(final["results"])
    assert problems == []


def test_a_running_job_page_shows_each_workers_text_as_it_is_written(
    api_url: str, sim: SimulatorControl
) -> None:
    # About 10 s a subtask: the job must still be running once Chromium has started and signed
    # in, which takes seconds on a loaded machine (3 s subtasks lost that race in two full runs).
    sim.set_faults([{"match": "<subtask>", "trickle_s": 0.012}])
    job_id = run_job(api_url, f"Browser text {uuid.uuid4().hex}", max_subtasks=2)
    problems: list[str] = []
    with chromium_page(problems) as page:
        sign_in(page, api_url, ALICE)
        page.goto(f"{api_url}/ui/jobs/{job_id}")
        # Text arrives in `subtask_delta` events while the subtask runs, before any result.
        page.wait_for_function(
            "() => [...document.querySelectorAll('pre.live')]"
            ".some(block => block.textContent.length > 0)",
            timeout=60_000,
        )
        shown = {
            block.get_attribute("id") or "": block.text_content() or ""
            for block in page.locator("pre.live").all()
        }
        page.wait_for_selector("#timeline:not([data-live])", timeout=60_000)
    assert problems == []
    outputs = {
        f"live-{r['index']}": r["output"] or "" for r in status_of(api_url, job_id)["results"]
    }
    assert shown and all(text and outputs[key].startswith(text) for key, text in shown.items())


def sign_in(page: Page, url: str, token: str) -> None:
    page.goto(f"{url}/ui/login")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/ui")


def test_cancelling_a_running_job_from_its_page_shows_it_cancelled_in_chromium(
    api_url: str, sim: SimulatorControl
) -> None:
    from playwright.sync_api import sync_playwright

    sim.set_faults([{"match": "<subtask>", "trickle_s": 0.01}])  # subtasks take seconds
    job_id = run_job(api_url, f"Browser cancel {uuid.uuid4().hex}")
    seen: list[dict[str, Any]] = []

    def running() -> bool:
        seen.append(status_of(api_url, job_id))
        return bool(seen[-1]["status"] == "running")

    wait_until(running, timeout_s=60, every_s=0.1, what=lambda: f"{job_id} running: {seen[-1:]}")
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            sign_in(page, api_url, ALICE)
            page.goto(f"{api_url}/ui/jobs/{job_id}")
            assert page.locator("h1 .status").inner_text() == "running"
            page.click("form.cancel button[type=submit]")
            page.wait_for_selector("h1 .status-cancelled")
            assert page.locator("h1 .status").inner_text() == "cancelled"
            assert page.locator("form.cancel").count() == 0
            assert page.locator("#timeline[data-live]").count() == 0  # nothing left to follow
        finally:
            browser.close()
    assert status_of(api_url, job_id)["status"] == "cancelled"
    assert problems == []


def test_another_tenant_signed_in_gets_the_not_found_page_for_the_first_ones_job(
    api_url: str,
) -> None:
    from playwright.sync_api import sync_playwright

    task = f"Alice's private job {uuid.uuid4().hex}"
    job_id = run_job(api_url, task)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            sign_in(page, api_url, BOB)
            answer = page.goto(f"{api_url}/ui/jobs/{job_id}")
            assert answer is not None and answer.status == 404
            assert page.locator("h1").inner_text() == "Not found"
            assert task not in page.content()
            assert page.locator("form.cancel").count() == 0
        finally:
            browser.close()
