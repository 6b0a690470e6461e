"""The official anthropic SDK's Message Batches calls against the running simulator: what
Chorus's batch mode sends and reads, parsed by the SDK into its typed objects."""

from __future__ import annotations

import anthropic
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
from anthropic.types.messages import MessageBatch
from anthropic.types.messages.batch_create_params import Request

from tests.support.simulator_control import SimulatorControl
from tests.support.waiting import wait_until


def sdk(sim: SimulatorControl) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="test", base_url=sim.url, max_retries=0)


def request(custom_id: str, text: str, model: str = "claude-haiku-5-5") -> Request:
    params: MessageCreateParamsNonStreaming = {
        "model": model,
        "max_tokens": 200,
        "messages": [{"role": "user", "content": text}],
    }
    return {"custom_id": custom_id, "params": params}


def ended(client: anthropic.Anthropic, batch_id: str, timeout_s: float = 20) -> MessageBatch:
    """The batch once it has ended, polled as a client would."""
    seen: list[MessageBatch] = []

    def done() -> bool:
        seen.append(client.messages.batches.retrieve(batch_id))
        return seen[-1].processing_status == "ended"

    wait_until(done, timeout_s=timeout_s, what=lambda: f"batch to end; last {seen[-1:]}")
    return seen[-1]


def test_a_batch_runs_to_the_end_and_its_results_parse(sim: SimulatorControl) -> None:
    sim.set_batches(delay_s=0.3)
    client = sdk(sim)
    batch = client.messages.batches.create(
        requests=[request("plan", "Plan a bakery ad."), request("copy", "Write it.", "m")]
    )
    assert batch.processing_status == "in_progress" and batch.request_counts.processing == 2
    done = ended(client, batch.id)
    assert done.request_counts.succeeded == 2 and done.ended_at is not None
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert set(results) == {"plan", "copy"}
    for result in results.values():
        assert result.type == "succeeded"
        assert result.message.content[0].type == "text"
        assert result.message.usage.input_tokens > 0 and result.message.usage.output_tokens > 0
    assert results["copy"].message.model == "m"  # type: ignore[union-attr]
    stats = sim.stats()
    assert stats["batches_created"] == 1 and stats["batch_requests"] == 2
    assert stats["requests_total"] == 2
    assert {r.get("batch") for r in sim.requests()} == {batch.id}
    assert batch.id in [b.id for b in client.messages.batches.list(limit=5)]


def test_errored_requests_come_back_errored_beside_the_good_ones(sim: SimulatorControl) -> None:
    sim.set_batches(delay_s=0.2)
    sim.set_faults([{"match": "overload me", "status": 529}])
    client = sdk(sim)
    batch = client.messages.batches.create(
        requests=[
            request("fine", "Describe a bottle."),
            request("busy", "please overload me"),
            request("unknown", "hi", model="not-a-model"),
        ]
    )
    done = ended(client, batch.id)
    assert (done.request_counts.succeeded, done.request_counts.errored) == (1, 2)
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert results["fine"].type == "succeeded"
    busy, unknown = results["busy"], results["unknown"]
    assert busy.type == "errored" and busy.error.error.type == "overloaded_error"
    assert unknown.type == "errored" and unknown.error.error.type == "not_found_error"


def test_a_malformed_batch_is_a_bad_request(sim: SimulatorControl) -> None:
    client = sdk(sim)
    try:
        client.messages.batches.create(requests=[request("same", "a"), request("same", "b")])
    except anthropic.BadRequestError as exc:
        assert "custom_id" in str(exc)
    else:
        raise AssertionError("a duplicate custom_id was accepted")
    try:
        client.messages.batches.retrieve("msgbatch_missing")
    except anthropic.NotFoundError:
        pass
    else:
        raise AssertionError("an unknown batch was found")


def test_cancel_ends_the_batch_with_its_requests_canceled(sim: SimulatorControl) -> None:
    sim.set_batches(delay_s=2)
    client = sdk(sim)
    batch = client.messages.batches.create(
        requests=[request(f"r{i}", f"task {i}") for i in range(3)]
    )
    canceling = client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling"
    assert canceling.cancel_initiated_at is not None
    done = ended(client, batch.id)
    assert done.request_counts.canceled == 3
    kinds = {r.result.type for r in client.messages.batches.results(batch.id)}
    assert kinds == {"canceled"}
    assert sim.stats()["requests_total"] == 0  # nothing ran, nothing billed


def test_a_batch_past_its_expiry_ends_with_its_requests_expired(sim: SimulatorControl) -> None:
    sim.set_batches(delay_s=60, expire_after_s=0.3)
    client = sdk(sim)
    batch = client.messages.batches.create(requests=[request("late", "too slow")])
    assert abs((batch.expires_at - batch.created_at).total_seconds() - 0.3) < 1e-5
    done = ended(client, batch.id)
    assert done.request_counts.expired == 1
    [line] = list(client.messages.batches.results(batch.id))
    assert line.custom_id == "late" and line.result.type == "expired"
