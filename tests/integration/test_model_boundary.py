"""The model boundary is total: whatever a model endpoint answers, a call ends in a reply or a
classified `ModelCallError` within its deadline; never a crash, never a call that hangs."""

from __future__ import annotations

import concurrent.futures
import time

import pytest

from chorus.contract.models import JobStatus, SubtaskStatus
from chorus.core.submission import build_request
from chorus.devstack.stack import LocalStack
from chorus.errors import ModelCallError
from chorus.llm.client import ModelClient
from chorus.settings import Settings
from tests.support.runner import JobRunner
from tests.support.simulator_control import SimulatorControl

WORKER_CALL = "<subtask>"  # in every worker prompt, in no planning prompt
PLANNING_CALL = "Plan at most"
ERROR_PAGE = {"raw_body": "<html><body>oops\n502 Bad Gateway</body></html>"}
NOT_A_MESSAGE = {"raw_body": '{"hello": "world"}', "content_type": "application/json"}
PLANNER = "claude-sonnet-5-5"


def new_log(stack: LocalStack) -> dict[str, int]:
    """Where each Celery process's log ends now, so a test reads only what it caused."""
    return {role: len(stack.process(role).log_text()) for role in ("orchestrator", "worker1")}


def written_since(stack: LocalStack, marks: dict[str, int]) -> str:
    return "".join(stack.process(role).log_text()[mark:] for role, mark in marks.items())


def test_non_json_replies_are_retried_like_any_transient_error(
    jobs: JobRunner, sim: SimulatorControl, chorus_stack: LocalStack
) -> None:
    sim.set_faults([
        {"match": PLANNING_CALL, **ERROR_PAGE, "times": 1},
        {"match": WORKER_CALL, **ERROR_PAGE, "times": 2},
    ])  # fmt: skip
    marks = new_log(chorus_stack)
    record = jobs.run("Name a lighthouse.", options={"max_subtasks": 1}, timeout_s=30)

    assert record.status is JobStatus.SUCCEEDED, record.error
    [result] = record.results
    assert result.status is SubtaskStatus.SUCCEEDED and result.attempts == 3
    assert sim.stats()["requests_total"] == 2 + 3  # planning retried once, the worker twice
    logged = written_since(chorus_stack, marks)
    assert "invalid_response: 200 text/html: '<html><body>oops 502 Bad Gateway" in logged
    assert "Traceback" not in logged and "crashed" not in logged


def test_a_worker_that_never_gets_a_message_fails_after_bounded_attempts(
    jobs: JobRunner, sim: SimulatorControl, chorus_stack: LocalStack
) -> None:
    sim.set_faults([{"match": WORKER_CALL, **NOT_A_MESSAGE}])
    marks = new_log(chorus_stack)
    record = jobs.run("Name a river.", options={"max_subtasks": 1}, timeout_s=30)

    assert record.status.is_final
    [result] = record.results
    assert result.status is SubtaskStatus.FAILED
    assert result.error == """invalid_response: 200 application/json: '{"hello": "world"}'"""
    assert result.attempts == jobs.settings.max_attempts
    assert sim.stats()["requests_total"] == 1 + jobs.settings.max_attempts
    assert "Traceback" not in written_since(chorus_stack, marks)


@pytest.mark.parametrize("fault", [ERROR_PAGE, NOT_A_MESSAGE], ids=["html", "json"])
def test_the_model_client_turns_a_reply_that_is_not_a_message_into_invalid_response(
    settings: Settings, sim: SimulatorControl, fault: dict[str, str]
) -> None:
    sim.set_faults([{"match": PLANNING_CALL, **fault}])
    client = ModelClient(settings)
    try:
        with pytest.raises(ModelCallError) as caught:
            client.plan(build_request({"task": "Plan a picnic."}), model=PLANNER, max_tokens=500)
    finally:
        client.close()
    assert caught.value.retryable and caught.value.message.startswith("invalid_response: 200 ")
    assert len(caught.value.message) <= 80 and "\n" not in caught.value.message


def test_a_trickling_endpoint_is_cut_off_at_the_calls_deadline(
    settings: Settings, sim: SimulatorControl
) -> None:
    # One byte a second: no single read comes near the 3 s timeout, only the deadline ends it.
    sim.set_faults([{"match": PLANNING_CALL, "trickle_s": 1}])
    client = ModelClient(settings.model_copy(update={"model_timeout_s": 3}))
    request = build_request({"task": "Plan a picnic."})
    started = time.monotonic()
    # Called from a helper thread only so that a regression fails here instead of hanging.
    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        call = pool.submit(client.plan, request, model=PLANNER, max_tokens=500)
        with pytest.raises(ModelCallError) as caught:
            call.result(timeout=10)
        elapsed = time.monotonic() - started
    finally:
        pool.shutdown(wait=False)
        client.close()
    assert 3 <= elapsed < 5, elapsed
    assert caught.value.retryable
    assert caught.value.message == "timeout: no complete reply within 3s"
