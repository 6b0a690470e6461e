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


def test_a_timeout_names_the_calls_deadline() -> None:
    error = classify_model_error(anthropic.APITimeoutError(request=REQUEST), timeout_s=3)
    assert error.retryable and error.message == "timeout: no complete reply within 3s"


def not_a_message(body: bytes, content_type: str | None) -> anthropic.APIResponseValidationError:
    headers = {"content-type": content_type} if content_type else {}
    response = httpx2.Response(200, headers=headers, content=body, request=REQUEST)
    return anthropic.APIResponseValidationError(response, None)


def test_a_reply_that_is_not_a_message_is_a_retryable_invalid_response() -> None:
    error = classify_model_error(not_a_message(b"<html><body>oops</body></html>", "text/html"))
    assert error.retryable and error.status == 200
    assert error.message == "invalid_response: 200 text/html: '<html><body>oops</body></html>'"


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"", None, "invalid_response: 200 no content-type: ''"),
        (b'{"a": 1}', "application/json; charset=utf-8", "200 application/json: '{\"a\": 1}'"),
        (
            b"line one\r\nline\ttwo\x00\xff",
            "text/plain",
            "200 text/plain: 'line one line two?\ufffd'",
        ),
    ],
)
def test_invalid_response_messages_name_status_type_and_first_bytes(
    body: bytes, content_type: str | None, expected: str
) -> None:
    assert classify_model_error(not_a_message(body, content_type)).message.endswith(expected)


def test_invalid_response_message_is_one_short_line_however_long_the_body() -> None:
    body = b"<html>\n" + b"<p>bad gateway</p>\n" * 10_000
    message = classify_model_error(not_a_message(body, "text/html-" + "x" * 500)).message
    assert message.startswith("invalid_response: 200 text/html-x") and message.endswith("…'")
    assert len(message) <= 80 and "\n" not in message
