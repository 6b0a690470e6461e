"""The simulator's Message Batches endpoints, on a clock the test moves: validation, state
progression, cancel, expiry, per-request faults, and shapes the SDK's types accept."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse
from fastapi import FastAPI
from fastapi.testclient import TestClient

from chorus.devstack.simulator.batch_api import install_batches
from chorus.devstack.simulator.batches import MAX_REQUESTS, parse_batch
from chorus.devstack.simulator.config import SimulatorConfig
from chorus.devstack.simulator.faults import FaultRule
from chorus.devstack.simulator.state import SimulatorState
from chorus.devstack.simulator.validation import Refusal

START = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class Sim:
    """The batch routes on a real SimulatorState, its batch clock in the test's hands."""

    def __init__(self, **config: Any) -> None:
        self.state = SimulatorState(SimulatorConfig(**config))
        self.clock = Clock()
        self.state.batches.clock = self.clock
        app = FastAPI()
        key = self.state.config.api_key
        install_batches(
            app, self.state, lambda http: key is None or http.headers.get("x-api-key") == key
        )
        self.http = TestClient(app, base_url="http://sim.test", headers={"x-api-key": key or ""})

    def at(self, seconds: float) -> Sim:
        self.clock.now = START + seconds
        return self

    def create(self, *requests: dict[str, Any]) -> MessageBatch:
        response = self.http.post("/v1/messages/batches", json={"requests": list(requests)})
        assert response.status_code == 200, response.text
        return MessageBatch.model_validate(response.json())

    def refused(self, body: Any) -> str:
        response = self.http.post("/v1/messages/batches", json=body)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        return str(error["message"])

    def get(self, batch_id: str) -> MessageBatch:
        response = self.http.get(f"/v1/messages/batches/{batch_id}")
        assert response.status_code == 200, response.text
        return MessageBatch.model_validate(response.json())

    def cancel(self, batch_id: str) -> MessageBatch:
        response = self.http.post(f"/v1/messages/batches/{batch_id}/cancel")
        assert response.status_code == 200, response.text
        return MessageBatch.model_validate(response.json())

    def results(self, batch_id: str) -> dict[str, MessageBatchIndividualResponse]:
        response = self.http.get(f"/v1/messages/batches/{batch_id}/results")
        assert response.status_code == 200, response.text
        lines = map(MessageBatchIndividualResponse.model_validate_json, response.iter_lines())
        return {line.custom_id: line for line in lines}


def req(custom_id: str, text: str = "hello there", **params: Any) -> dict[str, Any]:
    base = {"model": "claude-haiku-5-5", "max_tokens": 100}
    return {
        "custom_id": custom_id,
        "params": base | {"messages": [{"role": "user", "content": text}]} | params,
    }


def test_a_new_batch_is_in_progress_with_every_request_processing() -> None:
    sim = Sim()
    batch = sim.create(req("a"), req("b"))
    assert batch.id.startswith("msgbatch_") and batch.type == "message_batch"
    assert batch.processing_status == "in_progress"
    assert batch.request_counts.processing == 2 and batch.request_counts.succeeded == 0
    assert batch.expires_at - batch.created_at == timedelta(hours=24)
    assert batch.ended_at is None and batch.results_url is None
    assert batch.cancel_initiated_at is None and batch.archived_at is None
    assert sim.http.get(f"/v1/messages/batches/{batch.id}/results").status_code == 400


def test_requests_finish_after_the_delay_with_seeded_jitter_then_the_batch_ends() -> None:
    sim = Sim(batch_delay_s=10)
    batch = sim.create(*(req(f"r{i}") for i in range(20)))
    assert sim.at(9.99).get(batch.id).processing_status == "in_progress"
    ended = sim.at(12).get(batch.id)
    assert ended.processing_status == "ended"
    assert ended.request_counts.succeeded == 20 and ended.request_counts.processing == 0
    assert ended.ended_at is not None
    took = (ended.ended_at - ended.created_at).total_seconds()
    assert 10 < took <= 12  # the last request's jitter, under 20% of the delay
    assert ended.results_url == f"http://sim.test/v1/messages/batches/{batch.id}/results"
    finished = [r["finished_at"] - START for r in sim.state.recent]
    assert finished == sorted(finished) and len(set(finished)) == 20  # in completion order
    again = Sim(batch_delay_s=10)
    again.create(*(req(f"r{i}") for i in range(20)))
    again.at(12).get(next(iter(again.state.batches.batches)))
    assert [r["finished_at"] - START for r in again.state.recent] == finished  # seeded


def test_results_hold_full_messages_with_usage_and_count_in_stats() -> None:
    sim = Sim(batch_delay_s=0)
    batch = sim.create(req("a", "plan a bakery"), req("b", "describe a bottle", model="m"))
    assert batch.processing_status == "ended"  # a zero delay: done at once
    results = sim.results(batch.id)
    assert set(results) == {"a", "b"}
    for line in results.values():
        assert line.result.type == "succeeded"
        message = line.result.message
        assert message.content and message.usage.output_tokens > 0
    stats = sim.state.stats()
    assert stats["requests_total"] == 2 and stats["requests_by_model"] == {
        "claude-haiku-5-5": 1,
        "m": 1,
    }
    assert stats["batches_created"] == 1 and stats["batch_requests"] == 2
    assert stats["output_tokens"] > 0 and stats["responses_by_status"] == {"200": 2}
    assert [(r["batch"], r["custom_id"], r["status"]) for r in sim.state.recent] == [
        (batch.id, "a", 200),
        (batch.id, "b", 200),
    ]


def test_an_invalid_request_errors_alone_and_the_batch_still_succeeds() -> None:
    sim = Sim(batch_delay_s=0)
    batch = sim.create(
        req("ok"),
        req("bad", max_tokens=0),
        req("nomodel", model="gpt-4"),
        req("extra", colour="red"),
    )
    results = sim.results(batch.id)
    assert results["ok"].result.type == "succeeded"
    for custom_id, kind in (
        ("bad", "invalid_request_error"),
        ("nomodel", "not_found_error"),
        ("extra", "invalid_request_error"),
    ):
        result = results[custom_id].result
        assert result.type == "errored", custom_id
        assert result.error.error.type == kind
    assert "max_tokens" in results["bad"].result.error.error.message  # type: ignore[union-attr]
    counts = sim.get(batch.id).request_counts
    assert (counts.succeeded, counts.errored) == (1, 3)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"requests": []}, "at least 1"),
        ({}, "requests: Field required"),
        ({"requests": [req("a")], "colour": 1}, "colour: Extra inputs"),
        ({"requests": [req("a b")]}, "requests.0.custom_id: String should match"),
        ({"requests": [req("x" * 65)]}, "custom_id"),
        ({"requests": [req("a"), req("a")]}, "requests.1.custom_id"),
        ({"requests": [req("a", stream=True)]}, "requests.0.params.stream"),
        ({"requests": [{"custom_id": "a"}]}, "requests.0.params: Field required"),
        ({"requests": [req("a") | {"x": 1}]}, "requests.0.x: Extra inputs"),
        ({"requests": [{"custom_id": "a", "params": []}]}, "requests.0.params: Input should"),
    ],
)
def test_a_malformed_batch_is_refused_whole(body: dict[str, Any], named: str) -> None:
    sim = Sim()
    assert named in sim.refused(body)
    assert sim.state.stats()["batches_created"] == 0


def test_more_than_the_request_limit_is_refused() -> None:
    too_many = json.dumps({"requests": [{}] * (MAX_REQUESTS + 1)}).encode()
    refusal = parse_batch(too_many, SimulatorConfig())
    assert isinstance(refusal, Refusal) and f"at most {MAX_REQUESTS} items" in refusal.message


def test_cancel_cancels_the_unfinished_requests_after_a_canceling_spell() -> None:
    sim = Sim(batch_delay_s=10)
    batch = sim.create(*(req(f"r{i}") for i in range(40)))
    due = sorted(r.done_at - START for r in sim.state.batches.batches[batch.id].requests)
    middle = (due[10] + due[11]) / 2  # eleven requests are done by now
    canceling = sim.at(middle).cancel(batch.id)
    assert canceling.processing_status == "canceling"
    assert canceling.cancel_initiated_at == datetime.fromisoformat(
        sim.http.get(f"/v1/messages/batches/{batch.id}").json()["cancel_initiated_at"]
    )
    assert canceling.request_counts.processing == 40
    assert sim.at(middle + 0.99).get(batch.id).processing_status == "canceling"
    ended = sim.at(middle + 1).get(batch.id)  # the spell: 10% of the delay
    assert ended.processing_status == "ended"
    assert (ended.request_counts.succeeded, ended.request_counts.canceled) == (11, 29)
    kinds = [line.result.type for line in sim.results(batch.id).values()]
    assert kinds.count("canceled") == 29
    assert sim.state.stats()["requests_total"] == 11  # a canceled request never ran
    assert sim.cancel(batch.id).request_counts.canceled == 29  # cancelling again: no change


def test_cancelling_an_ended_batch_changes_nothing() -> None:
    sim = Sim(batch_delay_s=0)
    batch = sim.create(req("a"))
    after = sim.at(5).cancel(batch.id)
    assert after.processing_status == "ended" and after.cancel_initiated_at is None
    assert after.request_counts.succeeded == 1


def test_a_batch_expires_when_its_time_passes_and_unfinished_requests_expire() -> None:
    sim = Sim(batch_delay_s=10)
    set_to = sim.http.put("/_simulator/batches", json={"expire_after_s": 11})
    assert set_to.json() == {"delay_s": 10, "expire_after_s": 11}
    batch = sim.create(*(req(f"r{i}") for i in range(40)))
    assert batch.expires_at - batch.created_at == timedelta(seconds=11)
    assert sim.at(10.9).get(batch.id).processing_status == "in_progress"
    ended = sim.at(11).get(batch.id)
    assert ended.processing_status == "ended"
    assert ended.ended_at == batch.expires_at
    counts = ended.request_counts
    assert counts.expired > 0 and counts.succeeded > 0
    assert counts.expired + counts.succeeded == 40
    kinds = {line.result.type for line in sim.results(batch.id).values()}
    assert kinds == {"succeeded", "expired"}


def test_fault_rules_apply_to_each_request() -> None:
    sim = Sim(batch_delay_s=0)
    sim.state.faults.replace(
        [
            FaultRule(match="overload me", status=529),
            FaultRule(match="limit me", status=429, times=1),
            FaultRule(match="say cheese", body="cheese"),
        ],
        None,
        None,
    )
    batch = sim.create(
        req("o", "please overload me"),
        req("l1", "limit me"),
        req("l2", "limit me"),
        req("c", "say cheese"),
    )
    results = sim.results(batch.id)
    overloaded = results["o"].result
    assert overloaded.type == "errored" and overloaded.error.error.type == "overloaded_error"
    limited = results["l1"].result
    assert limited.type == "errored" and limited.error.error.type == "rate_limit_error"
    assert results["l2"].result.type == "succeeded"  # the rule fired its one time
    cheese = results["c"].result
    assert cheese.type == "succeeded" and cheese.message.content[0].text == "cheese"  # type: ignore[union-attr]
    assert sim.state.stats()["responses_by_status"] == {"529": 1, "429": 1, "200": 2}


def test_list_pages_newest_first() -> None:
    sim = Sim(batch_delay_s=0)
    ids = [sim.create(req("a")).id for _ in range(5)]
    first = sim.http.get("/v1/messages/batches", params={"limit": 2}).json()
    assert [b["id"] for b in first["data"]] == ids[::-1][:2] and first["has_more"] is True
    assert first["first_id"] == ids[4] and first["last_id"] == ids[3]
    rest = sim.http.get("/v1/messages/batches", params={"after_id": ids[3]}).json()
    assert [b["id"] for b in rest["data"]] == ids[2::-1] and rest["has_more"] is False
    back = sim.http.get("/v1/messages/batches", params={"before_id": ids[1], "limit": 2}).json()
    assert [b["id"] for b in back["data"]] == [ids[3], ids[2]] and back["has_more"] is True
    assert sim.http.get("/v1/messages/batches", params={"limit": 0}).status_code == 400
    for b in first["data"]:
        MessageBatch.model_validate(b)


def test_unknown_batch_is_not_found_and_the_control_validates() -> None:
    sim = Sim()
    for path in ("msgbatch_nope", "msgbatch_nope/results"):
        response = sim.http.get(f"/v1/messages/batches/{path}")
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "not_found_error"
    assert sim.http.post("/v1/messages/batches/msgbatch_nope/cancel").status_code == 404
    assert sim.http.put("/_simulator/batches", json={"delay_s": -1}).status_code == 400
    assert sim.http.put("/_simulator/batches", json={"delay": 1}).status_code == 400


def test_reset_restores_the_configured_delay_and_forgets_batches() -> None:
    sim = Sim(batch_delay_s=3)
    sim.http.put("/_simulator/batches", json={"delay_s": 0.5, "expire_after_s": 9})
    sim.create(req("a"))
    sim.state.reset()
    book = sim.state.batches
    assert (book.delay_s, book.expire_after_s, book.batches) == (3, None, {})
    assert sim.state.stats()["batches_created"] == 0


def test_a_wrong_key_is_refused() -> None:
    sim = Sim(api_key="right")
    response = sim.http.post(
        "/v1/messages/batches", json={"requests": [req("a")]}, headers={"x-api-key": "wrong"}
    )
    assert response.status_code == 401
    assert json.loads(response.text)["error"]["type"] == "authentication_error"
