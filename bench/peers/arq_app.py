"""The workload on arq: `arq bench.peers.arq_app.WorkerSettings`, one process, asyncio.

A plan job asks for the plan and enqueues one worker job per subtask; each worker job stores
its output in a hash and INCRs a counter, and the one that brings it to the plan's size runs
the gather, so no job holds a slot while waiting for the others. arq's defaults otherwise
(its 0.5 s queue poll included)."""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import anthropic
from arq.connections import ArqRedis, RedisSettings

from bench.peers import common
from chorus.contract.plans import PlanDraft

MAX_JOBS = 1000


def redis_settings() -> RedisSettings:
    settings = RedisSettings.from_dsn(os.environ.get(common.REDIS_URL_ENV, "redis://localhost/0"))
    return dataclasses.replace(settings, max_connections=common.MAX_CONNECTIONS)


async def startup(ctx: dict[str, Any]) -> None:
    common.quiet_http_logs()
    ctx["anthropic"] = anthropic.AsyncAnthropic(
        api_key="bench", base_url=os.environ[common.SIMULATOR_URL_ENV], max_retries=0
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["anthropic"].close()


async def plan(ctx: dict[str, Any], job_id: str, subtasks: int) -> None:
    started = time.time()
    client: anthropic.AsyncAnthropic = ctx["anthropic"]
    reply, retries = await common.with_retry_async(
        lambda: client.messages.parse(**common.plan_args(subtasks), output_format=PlanDraft)
    )
    draft = reply.parsed_output
    assert draft is not None
    items = draft.subtasks[:subtasks]
    redis: ArqRedis = ctx["redis"]
    if retries:
        await redis.incrby(common.RETRIES_KEY, retries)
    for index, item in enumerate(items):
        await redis.enqueue_job(
            "work", job_id, index, item.type, item.description, len(items), started
        )


async def work(
    ctx: dict[str, Any],
    job_id: str,
    index: int,
    kind: str,
    description: str,
    total: int,
    started: float,
) -> None:
    client: anthropic.AsyncAnthropic = ctx["anthropic"]
    message, retries = await common.with_retry_async(
        lambda: client.messages.create(**common.worker_args(index, kind, description))
    )
    text = "".join(block.text for block in message.content if block.type == "text")
    redis: ArqRedis = ctx["redis"]
    if retries:
        await redis.incrby(common.RETRIES_KEY, retries)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(common.outputs_key(job_id), str(index), text)
        pipe.incr(common.done_key(job_id))
        _, done = await pipe.execute()
    if int(done) == total:
        outputs = await redis.hgetall(common.outputs_key(job_id))
        decoded = {_text(k): _text(v) for k, v in outputs.items()}
        await redis.set(
            common.record_key(job_id), common.record(started, decoded), ex=common.RECORD_TTL_S
        )
        await redis.delete(common.outputs_key(job_id), common.done_key(job_id))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class WorkerSettings:
    functions = [plan, work]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings()
    max_jobs = MAX_JOBS
