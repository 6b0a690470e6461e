"""The model boundary is total: whatever a model endpoint answers, a call ends in a reply or a
classified `ModelCallError` within its deadline; never a crash, never a call that hangs."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable

import pytest

from chorus.contract.models import JobStatus, Subtask, SubtaskAssignment, SubtaskStatus
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
    elapsed, error = _failing_call(
        client, lambda: client.plan(request, model=PLANNER, max_tokens=500)
    )
    assert 3 <= elapsed < 5, elapsed
    assert error.retryable
    assert error.message == "timeout: no complete reply within 3s"


def _failing_call(client: ModelClient, call: Callable[[], object]) -> tuple[float, ModelCallError]:
    """How long `call` took to fail, and its error. It runs on a helper thread only so that a
    regression fails the test (after 10 s) instead of hanging it."""
    started = time.monotonic()
    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        running = pool.submit(call)
        with pytest.raises(ModelCallError) as caught:
            running.result(timeout=10)
        return time.monotonic() - started, caught.value
    finally:
        pool.shutdown(wait=False)
        client.close()


def _assignment() -> SubtaskAssignment:
    return SubtaskAssignment(
        job_id="boundary-job",
        task="Name a river.",
        context={},
        subtask=Subtask(index=0, type="river", description="one river"),
        model="claude-haiku-5-5",
        max_tokens=200,
    )


def test_a_trickled_stream_is_cut_off_at_the_whole_calls_deadline(
    settings: Settings, sim: SimulatorControl
) -> None:
    # A streamed worker call: one byte every 0.2 s never trips the 2 s gap timeout, so only
    # the whole call's deadline (stream_timeout_s) ends it.
    sim.set_faults([{"match": WORKER_CALL, "trickle_s": 0.2}])
    update = {"stream_timeout_s": 3, "model_idle_timeout_s": 2}
    client = ModelClient(settings.model_copy(update=update))
    elapsed, error = _failing_call(client, lambda: client.run_subtask(_assignment()))
    assert 3 <= elapsed < 5, elapsed
    assert error.retryable
    assert error.message == "timeout: no complete reply within 3s"


@pytest.mark.parametrize("fault", [{"cut_after_tokens": 3}, {"error_after_tokens": 3}])
def test_a_stream_that_ends_mid_way_is_a_retryable_failure(
    settings: Settings, sim: SimulatorControl, fault: dict[str, int]
) -> None:
    sim.set_faults([{"match": WORKER_CALL, **fault}])
    client = ModelClient(settings)
    seen: list[str] = []
    try:
        with pytest.raises(ModelCallError) as caught:
            client.run_subtask(_assignment(), on_text=seen.append)
    finally:
        client.close()
    assert caught.value.retryable
    assert len(seen) == 3  # the pieces sent before the end, and no more
