"""The official anthropic SDK against the simulator over HTTP: the production code path."""

from __future__ import annotations

import concurrent.futures
import time

import anthropic
import pytest
from anthropic.types import TextBlockParam
from pydantic import BaseModel

from chorus.contract.plans import PlanDraft
from tests.support.simulator_control import SimulatorControl


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
    assert sim.stats()["max_in_flight"] >= 20


def test_api_key_is_enforced_when_configured() -> None:
    import os
    import subprocess
    import sys

    from chorus.devstack.stack import free_port, wait_until

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
        wait_until(lambda: "listening" in stdout.readline(), timeout_s=30, what="simulator")
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
