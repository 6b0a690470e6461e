"""The console's CSRF tokens and its HTML: user text is always shown as text."""

from __future__ import annotations

import re
from datetime import timedelta

from chorus.contract.models import JobRequest, Plan, Subtask, Usage
from chorus.orchestrator_service.api.console import pages
from chorus.orchestrator_service.api.console.html import esc, tree
from chorus.orchestrator_service.api.console.security import csrf_ok, csrf_token
from tests.support.factories import T0, result, running

SCRIPT = "<script>alert(1)</script>"


def test_a_csrf_token_is_bound_to_its_secret_and_its_session() -> None:
    secret, other = b"s" * 32, b"t" * 32
    token = csrf_token(secret, "session-a")
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    assert csrf_ok(secret, "session-a", token)
    assert not csrf_ok(secret, "session-b", token)
    assert not csrf_ok(other, "session-a", token)
    assert not csrf_ok(secret, "session-a", None)
    assert not csrf_ok(secret, "session-a", "")


def test_esc_escapes_markup_and_both_quotes() -> None:
    assert esc(SCRIPT) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert esc("\"'") == "&quot;&#x27;"


def test_typed_data_renders_as_a_tree_of_escaped_keys_and_values() -> None:
    html = tree({SCRIPT: [1, {"k": SCRIPT}], "n": None})
    assert "<script>" not in html
    assert html.count("&lt;script&gt;") == 2
    assert html.count("<details") == 3 and "<code>null</code>" in html


def test_a_job_page_shows_every_user_text_escaped() -> None:
    record = running(1).model_copy(
        update={
            "request": JobRequest(task=SCRIPT, context={"x": SCRIPT}),
            "plan": Plan(
                analysis=SCRIPT, subtasks=[Subtask(index=0, type="t0", description=SCRIPT)]
            ),
            "results": [result(0).model_copy(update={"output": SCRIPT, "data": {"a": SCRIPT}})],
            "error": SCRIPT,
        }
    )
    html = pages.job_page(record, "csrf-token", now=T0 + timedelta(seconds=3))
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # The only scripts are our own file; no inline script or style at all.
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/ui/static/console.js" defer>']
    assert "style=" not in html and "<style" not in html
    assert 'name="csrf" value="csrf-token"' in html  # the job is running: it has a cancel form


def test_the_jobs_page_truncates_and_escapes_tasks() -> None:
    record = running(1).model_copy(update={"request": JobRequest(task=SCRIPT + "x" * 200)})
    html = pages.jobs_page(
        [record], {}, status=None, text=SCRIPT, next_before=None, scanned=1, now=T0
    )
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert "x" * 100 not in html and "\u2026" in html


def test_a_job_page_shows_each_calls_cache_use_its_saving_and_the_batch_price() -> None:
    cached = result(0).model_copy(
        update={
            "usage": Usage(
                cache_creation_input_tokens=20_000,
                cache_read_input_tokens=0,
                cost_usd=0.025,
                cache_saving_usd=-0.005,
            ),
            "cache": "warms the entry for 4 other call(s)",
        }
    )
    reader = result(1).model_copy(
        update={
            "usage": Usage(cache_read_input_tokens=20_000, cache_saving_usd=0.018),
            "batched": True,
        }
    )
    plain = result(2)
    record = running(3).model_copy(
        update={
            "results": [cached, reader, plain],
            "usage": Usage(cache_saving_usd=0.013, cost_usd=0.03),
        }
    )
    html = pages.job_page(record, "csrf", T0)
    assert "20,000 written / 0 read, saved $-0.0050 (warms the entry for 4 other call(s))" in html
    assert "0 written / 20,000 read, saved $0.0180" in html
    assert "(batch price)" in html and html.count("(batch price)") == 1
    assert "caching saved $0.0130" in html
