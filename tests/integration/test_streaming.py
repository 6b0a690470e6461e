"""Worker text streamed from the simulator through real Celery workers into Redis: delta
batches in order before the result, a stream cut mid-way retried with nothing of it kept,
and a finished job costing Redis no more memory than without streaming."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import anthropic
import pytest
import redis

from chorus.contract import names
from chorus.contract.events import EventKind
from chorus.contract.models import JobRecord, JobStatus, SubtaskStatus
from chorus.devstack.simulator.generation import generate_text
from chorus.devstack.stack import LocalStack, start_simulator, wait_until
from tests.support.runner import JobRunner, runner_for
from tests.support.simulator_control import SimulatorControl

StackFactory = Callable[..., LocalStack]
TOKENS_PER_S = 100  # a default reply (four or five sentences) streams for about half a second
TASK = "Write three short notes about insulated water bottles."
WORKER_CALL = "<subtask>"  # in worker prompts only


@pytest.fixture(scope="module")
def streaming_simulator(workdir: Path) -> Iterator[SimulatorControl]:
    """A simulator of its own that streams replies at TOKENS_PER_S."""
    path = Path(tempfile.mkdtemp(prefix="streaming-sim-", dir=workdir))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
    proc, url = start_simulator(
        path,
        env,
        latency_ms=50,
        plan_size=3,
        extra_args=["--stream-tokens-per-s", str(TOKENS_PER_S)],
    )
    yield SimulatorControl(url)
    proc.stop()


def private_stack(
    stack_factory: StackFactory, sim: SimulatorControl, **env: str
) -> tuple[LocalStack, JobRunner]:
    sim.reset()
    stack = stack_factory(
        simulator_url=sim.url, workers=1, worker_concurrency=8, extra_env=dict(env)
    )
    return stack, runner_for(stack)


def deltas(client: redis.Redis, job_id: str, index: int) -> list[tuple[str, dict[str, Any]]]:
    entries = cast(
        list[tuple[str, dict[str, str]]], client.xrange(names.job_deltas_key(job_id, index))
    )
    assert all(fields["kind"] == EventKind.SUBTASK_DELTA.value for _, fields in entries)
    return [(entry_id, json.loads(fields["data"])) for entry_id, fields in entries]


def ms(stream_id: str) -> int:
    return int(stream_id.split("-")[0])


def test_deltas_arrive_in_order_before_the_result_and_reassemble_to_the_output(
    stack_factory: StackFactory, streaming_simulator: SimulatorControl
) -> None:
    runner = private_stack(stack_factory, streaming_simulator)[1]
    client = runner.store.client
    record = runner.run(TASK, options={"max_subtasks": 3, "synthesize": True})
    assert record.status is JobStatus.SUCCEEDED, record.error
    finished = {
        e.data["index"]: e.id for e in runner.events(record.job_id, EventKind.SUBTASK_FINISHED)
    }
    calls = [r for r in streaming_simulator.requests() if WORKER_CALL in r["text"]]
    assert calls and all(r["stream"] and r["first_token_at"] for r in calls)
    for result in record.results:
        batches = deltas(client, record.job_id, result.index)
        assert batches, f"subtask {result.index} published no text"
        # In order, all of the one attempt, joined back into exactly the stored output.
        assert [b["index"] for _, b in batches] == [result.index] * len(batches)
        assert {b["attempt"] for _, b in batches} == {1}
        assert "".join(b["text"] for _, b in batches) == result.output
        # Every batch was in Redis before the result was announced (same Redis clock).
        assert ms(batches[-1][0]) <= ms(finished[result.index])
        # Batched: far fewer writes than pieces, about ten a second at most.
        pieces = len(result.output.split())  # the simulator sends about a word per piece
        assert len(batches) < pieces / 2
        assert result.started_at and result.finished_at
        took_s = (result.finished_at - result.started_at).total_seconds()
        assert len(batches) <= took_s * 10 + 2, (len(batches), took_s)
    # The synthesis streams too, in a stream of its own (index null, synthesis true).
    synthesis = cast(
        list[tuple[str, dict[str, str]]],
        client.xrange(names.job_synthesis_deltas_key(record.job_id)),
    )
    data = [json.loads(fields["data"]) for _, fields in synthesis]
    assert data and all(d["index"] is None and d["synthesis"] for d in data)
    assert "".join(d["text"] for d in data) == record.synthesis
    # Once the result is in, the subtask's delta stream only lingers (delta_linger_s).
    ttl = client.pttl(names.job_deltas_key(record.job_id, record.results[0].index))
    assert 0 < ttl <= 30_000


def test_a_stream_cut_midway_is_retried_and_the_record_keeps_only_the_full_text(
    stack_factory: StackFactory, streaming_simulator: SimulatorControl
) -> None:
    runner = private_stack(stack_factory, streaming_simulator)[1]
    streaming_simulator.set_faults([{"match": WORKER_CALL, "cut_after_tokens": 5, "times": 1}])
    record = runner.run(TASK, options={"max_subtasks": 3})
    assert record.status is JobStatus.SUCCEEDED, record.error
    assert all(r.status is SubtaskStatus.SUCCEEDED for r in record.results)
    retried = [r for r in record.results if r.attempts == 2]
    assert len(retried) == 1 and {r.attempts for r in record.results} == {1, 2}
    result = retried[0]
    batches = deltas(runner.store.client, record.job_id, result.index)
    assert {b["attempt"] for _, b in batches} == {2}  # the cut attempt's text was dropped
    assert "".join(b["text"] for _, b in batches) == result.output
    # The cut call and its retry asked the same; the simulator's reply to that is fixed, and
    # the record holds exactly it: no partial prefix in front.
    worker_calls = [r for r in streaming_simulator.requests() if WORKER_CALL in r["text"]]
    assert len(worker_calls) == len(record.results) + 1  # one worker call more: the retry
    texts = [r["text"] for r in worker_calls]
    asked = next(t for t in texts if texts.count(t) == 2)
    assert result.output == generate_text(asked)


def _job_memory(client: redis.Redis, job_id: str) -> tuple[int, list[str]]:
    keys = sorted(client.scan_iter(match=f"{names.job_key(job_id)}*", count=1000))
    return sum(int(client.memory_usage(k, samples=0) or 0) for k in keys), keys


def _run_jobs(runner: JobRunner, count: int) -> list[JobRecord]:
    records = []
    for i in range(count):
        record = runner.run(f"{TASK} Batch {i}.", options={"max_subtasks": 3})
        assert record.status is JobStatus.SUCCEEDED, record.error
        records.append(record)
    return records


def test_a_finished_job_costs_redis_the_same_memory_with_and_without_streaming(
    stack_factory: StackFactory, streaming_simulator: SimulatorControl
) -> None:
    linger = {"CHORUS_DELTA_LINGER_S": "2"}
    measured: dict[str, float] = {}
    for streamed in ("true", "false"):
        stack, runner = private_stack(
            stack_factory, streaming_simulator, CHORUS_STREAM_DELTAS=streamed, **linger
        )
        client = runner.store.client
        records = _run_jobs(runner, 3)
        # Just after the last job ended its delta streams are still there (lingering).
        lingering = client.keys(f"{names.job_key(records[-1].job_id)}:deltas:*")
        assert bool(lingering) is (streamed == "true"), lingering
        wait_until(
            lambda c=client, rs=records: (
                not any(  # type: ignore[misc]
                    c.keys(f"{names.job_key(r.job_id)}:deltas:*") for r in rs
                )
            ),
            timeout_s=10,
            what="the delta streams to expire",
        )
        total = 0
        for record in records:
            size, keys = _job_memory(client, record.job_id)
            assert not any(":deltas:" in k for k in keys)
            total += size
        measured[streamed] = total / len(records)
        stack.stop()
    assert measured["true"] == pytest.approx(measured["false"], rel=0.10), measured


def test_a_streamed_call_stays_in_flight_until_its_last_event(
    streaming_simulator: SimulatorControl,
) -> None:
    streaming_simulator.reset()
    client = anthropic.Anthropic(api_key="k", base_url=streaming_simulator.url, max_retries=0)
    with client.messages.stream(
        model="claude-haiku-5-5",
        max_tokens=500,
        messages=[{"role": "user", "content": "Describe a river in a few sentences."}],
    ) as stream:
        first = next(e for e in stream if e.type == "content_block_delta")
        assert first.delta.type == "text_delta"
        # Headers and the first piece are out; the rest is still coming.
        assert streaming_simulator.stats()["in_flight"] == 1
        [call] = streaming_simulator.requests()
        assert call["stream"] and "finished_at" not in call
        message = stream.get_final_message()
    assert message.stop_reason == "end_turn"
    wait_until(
        lambda: streaming_simulator.stats()["in_flight"] == 0, timeout_s=5, what="the call to end"
    )
    [call] = streaming_simulator.requests()
    assert call["started_at"] <= call["first_token_at"] <= call["finished_at"]
    pieces = len(message.content[0].text.split()) if message.content[0].type == "text" else 0
    assert call["finished_at"] - call["first_token_at"] >= (pieces - 1) / TOKENS_PER_S * 0.8
