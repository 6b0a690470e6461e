"""What an open event stream asks of Redis, when it ends, and the limit on open streams; and
which store errors the API answers with 503."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator

import kombu.exceptions
import redis
from fastapi.responses import StreamingResponse

from chorus.contract.events import EventKind, JobEvent
from chorus.contract.models import JobStatus
from chorus.orchestrator_service.api.event_stream import EventStreams
from chorus.orchestrator_service.api.store_errors import (
    STORE_FULL,
    STORE_UNAVAILABLE,
    store_problem,
)
from chorus.store.health import StoreHealth
from tests.support.factories import running


class Source:
    """Answers each read with the next scripted batch (then nothing); records every call."""

    def __init__(self, *batches: list[JobEvent] | Exception, over: bool = False) -> None:
        self.batches = deque(batches)
        self.reads: list[tuple[str, int | None]] = []
        self.checks = 0
        self.is_over = over

    async def read(
        self, job_id: str, after: str = "0", *, block_ms: int | None = 1000, deltas: bool = False
    ) -> list[JobEvent]:
        self.reads.append((after, block_ms))
        self.deltas = deltas
        batch = self.batches.popleft() if self.batches else []
        if isinstance(batch, Exception):
            raise batch
        return batch

    async def over(self, job_id: str) -> bool:
        self.checks += 1
        return self.is_over


def event(n: int, kind: EventKind = EventKind.SUBTASK_FINISHED) -> JobEvent:
    return JobEvent(id=f"{n}-0", kind=kind, data={"n": n})


async def _body(response: object, chunks: int = 100) -> list[str]:
    assert isinstance(response, StreamingResponse)
    out: list[str] = []
    async for chunk in response.body_iterator:
        out.append(str(chunk))
        if len(out) == chunks:
            break
    return out


def test_a_waiting_job_hears_a_keepalive_at_once_then_blocks_until_its_last_event() -> None:
    source = Source([], [], [event(1), event(2, EventKind.JOB_FINISHED)], [])
    streams = EventStreams(source, keepalive_s=5)
    body = asyncio.run(_body(streams.response(running(), None)))
    assert body[:2] == [": keep-alive\n\n"] * 2
    assert body[3].startswith("id: 2-0\nevent: job_finished\n") and len(body) == 4
    assert "superseded" not in body[3]
    # Never a poll: the first read answers at once, the others wait on Redis; at the last
    # event, one read that does not wait looks for a retry after it, then the end.
    assert source.reads == [("0", None), ("0", 5000), ("0", 5000), ("2-0", None)]
    assert source.checks == 0  # the last event ends the stream; no record is read
    assert streams.open == 0
    assert source.deltas  # the workers' text is asked for unless the caller declines it


def test_a_job_retried_after_its_last_event_is_followed_to_its_new_last_event() -> None:
    retried = [event(3, EventKind.RETRIED)]
    finished = [event(4), event(5, EventKind.JOB_FINISHED)]
    # The peek after the first last event finds `retried`, which is then read for real.
    source = Source([event(2, EventKind.JOB_FINISHED)], retried, retried, [], finished, [])
    body = asyncio.run(_body(EventStreams(source, keepalive_s=5).response(running(), None)))
    assert [line.split("\n")[1] for line in body if line.startswith("id:")] == [
        "event: job_finished", "event: retried", "event: subtask_finished", "event: job_finished"
    ]  # fmt: skip
    assert '"superseded": true' in body[0] and "superseded" not in body[-1]
    assert source.reads[-1] == ("5-0", None)


def test_without_deltas_the_stream_asks_for_none() -> None:
    source = Source([event(2, EventKind.JOB_FINISHED)], [])
    final = running().model_copy(update={"status": JobStatus.SUCCEEDED})
    asyncio.run(_body(EventStreams(source).response(final, None, deltas=False)))
    assert source.deltas is False


def test_a_final_job_replays_its_events_after_last_event_id_and_ends_without_waiting() -> None:
    source = Source([event(5)])
    final = running().model_copy(update={"status": JobStatus.SUCCEEDED})
    body = asyncio.run(_body(EventStreams(source).response(final, "4-0")))
    assert [line.split("\n")[0] for line in body] == ["id: 5-0"]
    assert source.reads == [("4-0", None), ("5-0", None)]


def test_an_idle_stream_checks_its_job_rarely_and_ends_when_it_is_gone() -> None:
    source = Source(over=True)
    streams = EventStreams(source, recheck_s=0)
    body = asyncio.run(_body(streams.response(running(), None)))
    assert body == [": keep-alive\n\n"] and source.checks == 1


def test_redis_going_away_ends_an_open_stream_quietly() -> None:
    source = Source([], redis.ConnectionError("gone"))
    streams = EventStreams(source)
    assert asyncio.run(_body(streams.response(running(), None))) == [": keep-alive\n\n"]
    assert streams.open == 0


def test_past_the_limit_a_new_stream_is_refused_with_503_and_a_closed_one_frees_a_place() -> None:
    async def scenario() -> None:
        streams = EventStreams(Source(*[[] for _ in range(10)]), limit=1)
        first = streams.response(running(), None)
        assert isinstance(first, StreamingResponse)
        iterator = first.body_iterator
        assert isinstance(iterator, AsyncGenerator)
        await anext(iterator)  # being served
        refused = streams.response(running(), None)
        assert refused.status_code == 503 and refused.headers["retry-after"]
        await iterator.aclose()
        assert isinstance(streams.response(running(), None), StreamingResponse)

    asyncio.run(scenario())


def test_store_errors_map_to_503_reasons_through_kombus_wrapping() -> None:
    oom = redis.exceptions.OutOfMemoryError("OOM command not allowed")
    assert store_problem(oom) == STORE_FULL
    assert store_problem(redis.TimeoutError()) == STORE_UNAVAILABLE
    assert store_problem(redis.exceptions.BusyLoadingError()) == STORE_UNAVAILABLE
    for wrapper in (kombu.exceptions.OperationalError, kombu.exceptions.ChannelError):
        try:
            try:
                raise oom
            except redis.RedisError as exc:
                raise wrapper(str(exc)) from exc
        except Exception as wrapped:  # what kombu's publish raises, the OOM as its cause
            assert store_problem(wrapped) == STORE_FULL
    assert store_problem(kombu.exceptions.OperationalError("refused")) == STORE_UNAVAILABLE
    assert store_problem(redis.ResponseError("WRONGTYPE")) is None


def test_store_health_is_full_past_maxmemory_only() -> None:
    info = {"used_memory": 2_000, "maxmemory": 1_000}
    assert StoreHealth.from_info(info).full
    assert not StoreHealth.from_info({**info, "maxmemory": 0}).full  # no limit
    assert not StoreHealth.from_info({**info, "maxmemory": 3_000}).full
    assert not StoreHealth(up=False).full
