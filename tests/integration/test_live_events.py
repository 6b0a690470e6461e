"""The workers' text as it is written, through a real `chorus api` in front of the real stack:
`subtask_delta` events in order before each `subtask_finished`, reassembling to the stored
outputs, resumable with `Last-Event-ID`, and left out when the caller asks for none."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from chorus.client.http import Client
from chorus.contract.events import EventKind, JobEvent
from chorus.contract.models import JobStatus
from chorus.devstack.stack import LocalStack
from tests.support.api_server import start_api
from tests.support.simulator_control import SimulatorControl

TOKEN = "live-events-token-0123456789"
# Long enough replies that each worker's text comes in several batches.
OPTIONS = {"max_subtasks": 3, "worker_max_tokens": 600}


@pytest.fixture(scope="module")
def api_url(chorus_stack: LocalStack, workdir: Path) -> Iterator[str]:
    env = {**chorus_stack.env, "CHORUS_API_TOKENS": f"erin:{TOKEN}"}
    proc, url = start_api(env, workdir / "live-events-api.log")
    yield url
    proc.stop()


@pytest.fixture
def client(api_url: str, sim: SimulatorControl) -> Iterator[Client]:
    with Client(api_url, TOKEN, timeout_s=30) as c:
        yield c


def _texts(events: list[JobEvent]) -> dict[int, str]:
    """Each subtask's text from its deltas, the last attempt's only."""
    texts: dict[int, str] = defaultdict(str)
    attempts: dict[int, int] = {}
    for event in events:
        if event.kind is not EventKind.SUBTASK_DELTA or event.data.get("synthesis"):
            continue
        index, attempt = int(event.data["index"]), int(event.data["attempt"])
        if attempts.get(index) != attempt:
            attempts[index], texts[index] = attempt, ""
        texts[index] += str(event.data["text"])
    return dict(texts)


def test_deltas_come_in_order_before_each_result_and_reassemble_to_the_stored_outputs(
    client: Client, sim: SimulatorControl
) -> None:
    # Replies written over about a second, so each comes in several batches.
    sim.set_faults([{"match": "<subtask>", "trickle_s": 0.002}])
    job_id = client.submit("Write a short guide to brewing tea.", options=OPTIONS)
    events = list(client.events(job_id))
    record = client.get(job_id)

    assert record.status is JobStatus.SUCCEEDED, record.error
    kinds = [e.kind for e in events]
    assert kinds[-1] is EventKind.JOB_FINISHED
    assert _texts(events) == {r.index: r.output for r in record.results}
    for result in record.results:
        mine = [
            n for n, e in enumerate(events) if e.data.get("index") == result.index and not
            e.data.get("synthesis")
        ]  # fmt: skip
        finished = next(n for n in mine if events[n].kind is EventKind.SUBTASK_FINISHED)
        deltas = [n for n in mine if events[n].kind is EventKind.SUBTASK_DELTA]
        assert len(deltas) >= 2, "the text came in one piece: nothing was streamed"
        assert max(deltas) < finished
        assert events[min(mine)].kind is EventKind.SUBTASK_STARTED  # then text, then result


def test_a_stream_resumed_after_a_delta_misses_nothing_and_repeats_nothing(
    client: Client,
) -> None:
    job_id = client.submit("Describe three kinds of clouds.", options=OPTIONS)
    first: list[JobEvent] = []
    for event in client.events(job_id):
        first.append(event)
        if sum(e.kind is EventKind.SUBTASK_DELTA for e in first) == 2:
            break  # leave mid-text, as a dropped connection would
    resumed = list(client.events(job_id, last_event_id=first[-1].id))
    record = client.get(job_id)

    assert record.status is JobStatus.SUCCEEDED, record.error
    assert _texts(first + resumed) == {r.index: r.output for r in record.results}
    ids = [e.id for e in first + resumed]
    assert len(ids) == len(set(ids))


def test_a_caller_that_asks_for_no_deltas_gets_the_progress_events_alone(
    client: Client,
) -> None:
    job_id = client.submit("Name two rivers.", options={"max_subtasks": 2})
    events = list(client.events(job_id, deltas=False))
    assert events[-1].kind is EventKind.JOB_FINISHED
    assert not [e for e in events if e.kind is EventKind.SUBTASK_DELTA]
    assert all("~" not in e.id for e in events)  # plain stream ids, as before deltas
