"""The official anthropic SDK against the simulator over HTTP: the production code path."""

from __future__ import annotations

import concurrent.futures
import time

import anthropic
import pydantic
import pytest
from anthropic.types import TextBlockParam
from pydantic import BaseModel

from chorus.contract.models import JobStatus, SubtaskStatus
from chorus.contract.plans import PlanDraft
from chorus.core.submission import build_request
from chorus.errors import PlanError
from chorus.llm.client import ModelClient
from chorus.settings import Settings
from tests.support.runner import JobRunner
from tests.support.schemas import FINDINGS
from tests.support.simulator_control import SimulatorControl
from tests.support.waiting import LineWaiter


def sdk(sim: SimulatorControl, key: str = "test") -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=key, base_url=sim.url, max_retries=0)


def test_parse_returns_a_valid_plan(sim: SimulatorControl) -> None:
    message = sdk(sim).messages.parse(
        model="claude-sonnet-5-5",
        max_tokens=500,
        messages=[{"role": "user", "content": "Plan at most 3 subtasks for a bakery ad."}],
        output_format=PlanDraft,
    )
    plan = message.parsed_output
    assert plan is not None and 1 <= len(plan.subtasks) <= 3
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


def test_forced_tool_use_returns_schema_valid_input(sim: SimulatorControl) -> None:
    class Weather(BaseModel):
        city: str
        days: int

    message = sdk(sim).messages.create(
        model="claude-haiku-5-5",
        max_tokens=200,
        messages=[{"role": "user", "content": "Forecast for Lyon"}],
        tools=[{"name": "forecast", "input_schema": Weather.model_json_schema()}],
        tool_choice={"type": "tool", "name": "forecast"},
    )
    block = message.content[0]
    assert block.type == "tool_use" and message.stop_reason == "tool_use"
    Weather.model_validate(block.input)


def test_injected_overload_reaches_the_sdk_as_529(sim: SimulatorControl) -> None:
    sim.set_faults(fail_every=1, fail_status=529)
    with pytest.raises(anthropic.APIStatusError) as caught:
        sdk(sim).messages.create(
            model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 529


def test_cache_reads_for_a_repeated_marked_prefix(sim: SimulatorControl) -> None:
    system: list[TextBlockParam] = [
        {"type": "text", "text": "shared " * 1500, "cache_control": {"type": "ephemeral"}}
    ]
    usages = [
        sdk(sim)
        .messages.create(
            model="m", max_tokens=50, system=system, messages=[{"role": "user", "content": q}]
        )
        .usage
        for q in ("one", "two")
    ]
    assert usages[0].cache_creation_input_tokens and not usages[0].cache_read_input_tokens
    assert usages[1].cache_read_input_tokens == usages[0].cache_creation_input_tokens


def test_calls_run_concurrently(sim: SimulatorControl) -> None:
    client = sdk(sim)

    def call(i: int) -> None:
        client.messages.create(
            model="m", max_tokens=20, messages=[{"role": "user", "content": f"q{i}"}]
        )

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(40) as pool:
        list(pool.map(call, range(40)))
    assert time.perf_counter() - start < 40 * 0.2 / 4
    stats = sim.stats()
    assert stats["max_in_flight"] >= 20
    # Counted per model too (the benchmark's "worker calls in flight"), and let go after.
    assert stats["max_in_flight_by_model"] == {"m": stats["max_in_flight"]}
    assert stats["in_flight"] == 0


def test_api_key_is_enforced_when_configured() -> None:
    import os
    import subprocess
    import sys

    from chorus.devstack.stack import free_port

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chorus.devstack.simulator",
            "--port",
            str(port),
            "--api-key",
            "right",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        stdout = proc.stdout
        assert stdout is not None
        output = LineWaiter(stdout)  # also keeps draining the pipe, so the child never blocks
        output.wait_for(lambda line: "listening" in line, timeout_s=30, what="simulator")
        control = SimulatorControl(f"http://127.0.0.1:{port}")
        with pytest.raises(anthropic.AuthenticationError):
            sdk(control, key="wrong").messages.create(
                model="m", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
            )
        ok = sdk(control, key="right").messages.create(
            model="m", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
        assert ok.content
    finally:
        proc.terminate()
        proc.wait(10)


def test_refuses_to_listen_beyond_loopback_without_a_key() -> None:
    from chorus.devstack.simulator import SimulatorConfig, serve

    with pytest.raises(ValueError, match="without an API key"):
        serve("0.0.0.0", 1, SimulatorConfig())  # noqa: S104


def test_an_unknown_field_is_a_bad_request_error_from_the_sdk(sim: SimulatorControl) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        sdk(sim).messages.create(
            model="claude-haiku-5-5",
            max_tokens=10,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"colour": "blue"},
        )
    assert caught.value.body == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "colour: Extra inputs are not permitted",
        },
    }
    assert sim.stats()["requests_total"] == 0


def test_an_unknown_model_is_a_not_found_error_from_the_sdk(sim: SimulatorControl) -> None:
    with pytest.raises(anthropic.NotFoundError, match="model: gpt-4o"):
        sdk(sim).messages.create(
            model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )


def test_over_a_model_rate_limit_the_sdk_gets_a_rate_limit_error_with_retry_after(
    sim: SimulatorControl,
) -> None:
    sim.set_limits({"claude-haiku-5-5": {"requests_per_minute": 2}})
    client = sdk(sim)
    replies = [
        client.messages.with_raw_response.create(
            model="claude-haiku-5-5", max_tokens=20, messages=[{"role": "user", "content": q}]
        )
        for q in ("one", "two")
    ]
    remaining = [r.headers["anthropic-ratelimit-requests-remaining"] for r in replies]
    assert remaining == ["1", "0"]
    assert replies[0].headers["anthropic-ratelimit-requests-limit"] == "2"
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(
            model="claude-haiku-5-5", max_tokens=20, messages=[{"role": "user", "content": "3"}]
        )
    headers = caught.value.response.headers
    assert 55 <= int(headers["retry-after"]) <= 60
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert caught.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    other = client.messages.with_raw_response.create(
        model="claude-sonnet-5-5", max_tokens=20, messages=[{"role": "user", "content": "4"}]
    )
    assert "anthropic-ratelimit-requests-limit" not in other.headers  # no limit, no headers
    sim.reset()  # limits set at runtime last until the next reset
    client.messages.create(
        model="claude-haiku-5-5", max_tokens=20, messages=[{"role": "user", "content": "5"}]
    )


def test_a_reply_longer_than_max_tokens_is_cut_off_with_stop_reason_max_tokens(
    sim: SimulatorControl,
) -> None:
    client = sdk(sim)
    text = client.messages.create(
        model="claude-haiku-5-5", max_tokens=5, messages=[{"role": "user", "content": "Pitch"}]
    )
    assert text.stop_reason == "max_tokens" and text.usage.output_tokens == 5
    with pytest.raises(pydantic.ValidationError, match="Invalid JSON"):
        client.messages.parse(
            model="claude-sonnet-5-5",
            max_tokens=30,
            messages=[{"role": "user", "content": "Plan at most 3 subtasks for a bakery ad."}],
            output_format=PlanDraft,
        )


def test_a_plan_cut_off_at_max_tokens_is_a_plan_error_from_the_model_client(
    sim: SimulatorControl, settings: Settings
) -> None:
    client = ModelClient(settings)
    try:
        with pytest.raises(PlanError) as caught:
            client.plan(
                build_request({"task": "Plan a picnic."}), model="claude-sonnet-5-5", max_tokens=30
            )
    finally:
        client.close()
    # The stop reason is read before the JSON: the cause is named, and the call's cost kept.
    assert "cut off at max_tokens (30)" in str(caught.value)
    assert not caught.value.repairable
    assert caught.value.usage is not None and caught.value.usage.output_tokens == 30


def test_recent_requests_carry_start_end_and_status_on_the_simulators_clock(
    sim: SimulatorControl,
) -> None:
    sim.set_faults([{"match": "second", "status": 529}])
    before = time.time()
    client = sdk(sim)
    client.messages.create(
        model="claude-haiku-5-5", max_tokens=20, messages=[{"role": "user", "content": "first"}]
    )
    with pytest.raises(anthropic.APIStatusError):
        client.messages.create(
            model="claude-haiku-5-5",
            max_tokens=20,
            messages=[{"role": "user", "content": "second"}],
        )
    first, second = sim.requests()
    assert (first["status"], second["status"]) == (200, 529)
    assert before <= first["started_at"] < first["finished_at"] <= second["started_at"]
    assert second["finished_at"] <= time.time()
    # The fixture's 200 ms latency, slept on the event loop's monotonic clock and read here
    # on the wall clock: the two may differ by a fraction of a millisecond (seen: 0.19999).
    assert first["finished_at"] - first["started_at"] >= 0.2 - 0.001


def test_jobs_whose_plan_or_typed_output_is_cut_off_fail_at_once_naming_the_cause(
    jobs: JobRunner, sim: SimulatorControl
) -> None:
    plan = jobs.run("Plan a picnic.", options={"plan_max_tokens": 30})
    assert plan.status is JobStatus.FAILED and plan.error
    assert "cut off at max_tokens (30); raise plan_max_tokens" in plan.error
    # No repair round (it would be cut off again) and nothing retried; the call stays billed.
    assert sim.stats()["requests_total"] == 1
    assert plan.usage.output_tokens == 30

    typed = jobs.run(
        "Review this change.",
        options={"max_subtasks": 1, "output_schema": FINDINGS, "worker_max_tokens": 40},
    )
    [result] = typed.results
    assert result.status is SubtaskStatus.FAILED and result.error
    assert result.error.startswith(
        "output_schema: the reply was cut off at max_tokens (40) before its JSON was complete"
    )
    assert sim.stats()["requests_total"] == 1 + 2  # its plan and one worker call, no repair
    assert result.usage.output_tokens == 40 and result.output
