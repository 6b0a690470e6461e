"""The workload on dramatiq under gevent: `dramatiq-gevent bench.peers.dramatiq_app
--processes 1 --threads 1000`, the sync anthropic client on monkey-patched sockets.

A plan actor asks for the plan and runs a group of one worker message per subtask with a
completion callback (the GroupCallbacks middleware, on a Redis rate-limiter backend, with
the Results middleware as dramatiq's docs set it up) that runs the gather."""

from __future__ import annotations

import os
import time
from typing import Any

import anthropic
import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import GroupCallbacks
from dramatiq.rate_limits.backends import RedisBackend as RateLimiterBackend
from dramatiq.results import Results
from dramatiq.results.backends import RedisBackend as ResultsBackend

from bench.peers import common
from chorus.contract.plans import PlanDraft

URL = common.unbounded(os.environ.get(common.REDIS_URL_ENV, "redis://localhost/0"))
broker = RedisBroker(url=URL)  # type: ignore[no-untyped-call]
broker.add_middleware(Results(backend=ResultsBackend(url=URL)))  # type: ignore[no-untyped-call]
broker.add_middleware(GroupCallbacks(RateLimiterBackend(url=URL)))
dramatiq.set_broker(broker)

_redis = redis.Redis.from_url(URL, decode_responses=True)
common.quiet_http_logs()
_clients: dict[str, anthropic.Anthropic] = {}


def _client() -> anthropic.Anthropic:
    # Built on first use, inside the worker process (after the fork and the patching).
    if "c" not in _clients:
        _clients["c"] = anthropic.Anthropic(
            api_key="bench", base_url=os.environ[common.SIMULATOR_URL_ENV], max_retries=0
        )
    return _clients["c"]


@dramatiq.actor(max_retries=0)
def plan(job_id: str, subtasks: int) -> None:
    started = time.time()
    reply, retries = common.with_retry(
        lambda: _client().messages.parse(**common.plan_args(subtasks), output_format=PlanDraft)
    )
    if retries:
        _redis.incrby(common.RETRIES_KEY, retries)
    draft = reply.parsed_output
    assert draft is not None
    jobs = dramatiq.group(  # type: ignore[no-untyped-call]
        work.message(job_id, index, item.type, item.description)
        for index, item in enumerate(draft.subtasks[:subtasks])
    )
    jobs.add_completion_callback(gather.message(job_id, started))  # type: ignore[no-untyped-call]
    jobs.run()  # type: ignore[no-untyped-call]


@dramatiq.actor(max_retries=0)
def work(job_id: str, index: int, kind: str, description: str) -> None:
    message, retries = common.with_retry(
        lambda: _client().messages.create(**common.worker_args(index, kind, description))
    )
    if retries:
        _redis.incrby(common.RETRIES_KEY, retries)
    text = "".join(block.text for block in message.content if block.type == "text")
    _redis.hset(common.outputs_key(job_id), str(index), text)


@dramatiq.actor(max_retries=0)
def gather(job_id: str, started: float) -> None:
    outputs: dict[str, Any] = _redis.hgetall(common.outputs_key(job_id))  # type: ignore[assignment]
    _redis.set(common.record_key(job_id), common.record(started, outputs), ex=common.RECORD_TTL_S)
    _redis.delete(common.outputs_key(job_id))
