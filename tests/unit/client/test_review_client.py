"""`Client.review` and `AsyncClient.review`: the body each answer sends, one answer checked
before anything is sent, and the API's 409 and 422 as ChorusErrors."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from chorus.client.http import AsyncClient, Client
from chorus.errors import ApiError, InvalidRequest
from tests.support import factories

BASE = "http://chorus.test"
JOB = "job-1"


def _answering(status: int, body: Any, sent: list[Any]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        assert request.method == "POST" and request.url.path == f"/v1/jobs/{JOB}/plan"
        sent.append(json.loads(request.content))
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handle)


RECORD = json.loads(factories.running(2).model_dump_json())


@pytest.mark.parametrize(
    ("kwargs", "body"),
    [
        ({"approve": True}, {"approve": True}),
        ({"reject": True, "reason": "no"}, {"reject": True, "reason": "no"}),
        (
            {"plan": {"subtasks": [{"type": "a", "description": "b"}]}},
            {"plan": {"subtasks": [{"type": "a", "description": "b"}]}},
        ),
    ],
)
def test_each_answer_sends_its_body_and_returns_the_record(
    kwargs: dict[str, Any], body: dict[str, Any]
) -> None:
    sent: list[Any] = []
    with Client(BASE, transport=_answering(200, RECORD, sent)) as client:
        assert client.review(JOB, **kwargs).job_id == "job-1"
    assert sent == [body]


def test_the_async_client_reviews_too() -> None:
    sent: list[Any] = []

    async def go() -> str:
        async with AsyncClient(BASE, transport=_async(sent)) as client:
            return (await client.review(JOB, approve=True)).status.value

    assert asyncio.run(go()) == "running" and sent == [{"approve": True}]


def _async(sent: list[Any]) -> httpx.MockTransport:
    return _answering(200, RECORD, sent)


def test_not_exactly_one_answer_is_refused_before_sending() -> None:
    sent: list[Any] = []
    with Client(BASE, transport=_answering(200, RECORD, sent)) as client:
        options: tuple[dict[str, Any], ...] = ({}, {"approve": True, "reject": True})
        for kwargs in options:
            with pytest.raises(InvalidRequest, match="exactly one"):
                client.review(JOB, **kwargs)
    assert sent == []


def test_conflicts_and_broken_rules_come_back_as_errors() -> None:
    sent: list[Any] = []
    conflict = _answering(409, {"error": "job is running, not awaiting review"}, sent)
    with Client(BASE, transport=conflict) as client, pytest.raises(ApiError) as caught:
        client.review(JOB, approve=True)
    assert caught.value.status == 409 and "not awaiting review" in caught.value.message
    rule = {"error": "plan: invalid plan: subtask 1 repeats the type 'a' of subtask 0",
            "fields": [{"field": "plan", "message": "repeats"}]}  # fmt: skip
    edited = {"subtasks": [{"type": "a", "description": "x"}, {"type": "a", "description": "y"}]}
    refused = _answering(422, rule, sent)
    with Client(BASE, transport=refused) as client, pytest.raises(InvalidRequest, match="repeats"):
        client.review(JOB, plan=edited)
