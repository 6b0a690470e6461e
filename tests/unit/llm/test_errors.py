from datetime import UTC, datetime, timedelta

import anthropic
import httpx2
import pytest

from chorus.errors import ModelCallError
from chorus.llm.errors import classify_model_error

REQUEST = httpx2.Request("POST", "http://127.0.0.1/v1/messages")


def status_error(status: int, headers: dict[str, str] | None = None) -> anthropic.APIStatusError:
    body = {"type": "error", "error": {"type": "x", "message": f"the reason for {status}"}}
    response = httpx2.Response(status, headers=headers or {}, json=body, request=REQUEST)
    return anthropic.APIStatusError(f"Error code: {status}", response=response, body=body)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 529])
def test_transient_statuses_are_retryable(status: int) -> None:
    error = classify_model_error(status_error(status))
    assert error.retryable and error.status == status
    assert f"the reason for {status}" in error.message


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_permanent_statuses_fail_at_once_with_the_message(status: int) -> None:
    error = classify_model_error(status_error(status))
    assert not error.retryable
    assert error.message == f"model endpoint answered {status}: the reason for {status}"


def test_connection_problems_are_retryable() -> None:
    assert classify_model_error(anthropic.APIConnectionError(request=REQUEST)).retryable
    assert classify_model_error(anthropic.APITimeoutError(request=REQUEST)).retryable


def test_retry_after_and_rate_limit_reset_headers_are_honoured() -> None:
    assert classify_model_error(status_error(429, {"retry-after": "7"})).retry_after_s == 7
    reset = (datetime.now(UTC) + timedelta(seconds=20)).isoformat()
    wait = classify_model_error(
        status_error(429, {"anthropic-ratelimit-requests-reset": reset})
    ).retry_after_s
    assert wait is not None and 15 < wait <= 20


def test_unknown_exceptions_are_permanent_and_do_not_leak_details() -> None:
    error = classify_model_error(RuntimeError("secret sk-ant-123"))
    assert isinstance(error, ModelCallError) and not error.retryable
    assert "sk-ant" not in error.message
