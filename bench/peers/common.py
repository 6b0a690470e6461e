"""What both peers share: where they find Redis and the simulator, the calls they make (the
workload's prompts, models and caps) and the keys the gather writes."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anthropic

from bench import workload
from chorus.contract.models import Subtask
from chorus.core import prompts

REDIS_URL_ENV = "BENCH_PEER_REDIS_URL"
SIMULATOR_URL_ENV = "BENCH_PEER_SIMULATOR_URL"
RECORD_TTL_S = 3600
RETRIES_KEY = "peer:retries"  # model calls retried after a dropped connection
ATTEMPTS = 3
# redis-py 8 caps a connection pool at 100 unless told otherwise (up to 5 it was unbounded,
# what arq was written for) and raises past it: 1000 jobs at once need more.
MAX_CONNECTIONS = 10_000
T = TypeVar("T")


def unbounded(url: str) -> str:
    """The Redis URL with the pool cap lifted (redis-py reads `max_connections` from it)."""
    return f"{url}{'&' if '?' in url else '?'}max_connections={MAX_CONNECTIONS}"


def quiet_http_logs() -> None:
    # A line per request costs CPU at 1000 calls/s; Chorus quiets the same loggers.
    for noisy in ("httpx", "httpx2", "httpcore", "httpcore2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def with_retry(call: Callable[[], T]) -> tuple[T, int]:
    """(result, retries). Like the bare chord's: a connection the simulator dropped is
    retried at once, in place, so one stale keep-alive connection does not fail a batch."""
    for attempt in range(ATTEMPTS):
        try:
            return call(), attempt
        except anthropic.APIConnectionError:
            if attempt + 1 == ATTEMPTS:
                raise
    raise AssertionError("unreachable")


async def with_retry_async(call: Callable[[], Awaitable[T]]) -> tuple[T, int]:
    for attempt in range(ATTEMPTS):
        try:
            return await call(), attempt
        except anthropic.APIConnectionError:
            if attempt + 1 == ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def record_key(job_id: str) -> str:
    return f"peer:job:{job_id}"


def outputs_key(job_id: str) -> str:
    return f"peer:job:{job_id}:outputs"


def done_key(job_id: str) -> str:
    return f"peer:job:{job_id}:done"


def plan_args(subtasks: int) -> dict[str, Any]:
    """Keyword arguments of `messages.parse` for the plan (output_format added by the caller)."""
    request = workload.request(subtasks)
    return {
        "model": workload.ORCHESTRATOR_MODEL,
        "max_tokens": workload.PLAN_MAX_TOKENS,
        "system": prompts.planning_system(request),
        "messages": prompts.planning_messages(request),
    }


def worker_args(index: int, kind: str, description: str) -> dict[str, Any]:
    return {
        "model": workload.WORKER_MODEL,
        "max_tokens": workload.WORKER_MAX_TOKENS,
        "system": prompts.worker_system(workload.TASK, workload.CONTEXT),
        "messages": prompts.worker_messages(
            Subtask(index=index, type=kind, description=description)
        ),
    }


def record(started: float, outputs: dict[str, str]) -> str:
    """The one JSON record a finished job leaves."""
    ordered = [outputs[k] for k in sorted(outputs, key=int)]
    return json.dumps({"started": started, "finished": time.time(), "outputs": ordered})
