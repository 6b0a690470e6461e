"""The floor Chorus is measured against: a minimal Celery chord making the same model calls.

One plan task asks for the plan through `ModelClient.plan` (the very call Chorus makes) and
sends chord(group(one worker call per subtask), gather). No validation, record, idempotency,
events or ledger; Celery's defaults otherwise. Its queues are its own, so it can share a Redis
with Chorus without taking Chorus's messages.

Run it as `celery -A bench.bare_chord worker -Q bench-bare-plan` (and `-Q bench-bare-work`)
with BENCH_BARE_REDIS_URL set.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from celery import Celery, chord, group

from bench import workload
from chorus.contract.models import JobRequest
from chorus.errors import ModelCallError
from chorus.llm.client import ModelClient
from chorus.settings import Settings

REDIS_URL_ENV = "BENCH_BARE_REDIS_URL"
PLAN_QUEUE = "bench-bare-plan"
WORK_QUEUE = "bench-bare-work"
PLAN_TASK = "bench.bare.plan"
WORK_TASK = "bench.bare.work"
GATHER_TASK = "bench.bare.gather"


def build_app(redis_url: str | None) -> Celery:
    app = Celery("bench_bare", broker=redis_url, backend=redis_url)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_routes={
            PLAN_TASK: {"queue": PLAN_QUEUE},
            GATHER_TASK: {"queue": PLAN_QUEUE},
            WORK_TASK: {"queue": WORK_QUEUE},
        },
        # Nothing may land on Celery's default `celery` queue, which nobody here consumes.
        task_default_queue=PLAN_QUEUE,
        result_expires=3600,
        broker_connection_retry_on_startup=True,
    )
    return app


log = logging.getLogger(__name__)
T = TypeVar("T")
ATTEMPTS = 3

# Read at import: this module is what `celery -A` loads in the worker processes.
app = build_app(os.environ.get(REDIS_URL_ENV))

_clients: dict[str, ModelClient] = {}
_clients_lock = threading.Lock()


def _client(base_url: str) -> ModelClient:
    # One client per simulator, so one pair of processes serves every latency of the suite.
    with _clients_lock:
        if base_url not in _clients:
            settings = Settings(simulator_url=base_url, anthropic_api_key=None)
            _clients[base_url] = ModelClient(settings)
        return _clients[base_url]


def _with_retry(call: Callable[[], T]) -> tuple[T, int]:
    """(result, retries). Chorus retries a dropped connection through Celery; the floor has to
    survive one too, or a single lost connection fails a whole batch. It retries at once, in
    place: the cheapest retry there is, so it flatters the floor, never Chorus."""
    for attempt in range(ATTEMPTS):
        try:
            return call(), attempt
        except ModelCallError as exc:
            if not exc.retryable or attempt + 1 == ATTEMPTS:
                raise
            cause = exc.__cause__
            log.warning(
                "retrying a model call after %r (cause %r)", cause, cause and cause.__cause__
            )
    raise AssertionError("unreachable")


@app.task(name=PLAN_TASK)  # type: ignore[untyped-decorator]
def plan(
    *, base_url: str, task: str, context: dict[str, Any], subtasks: int, gather_id: str
) -> None:
    started = time.time()
    request = JobRequest(task=task, context=context, options={"max_subtasks": subtasks})
    reply, retries = _with_retry(
        lambda: _client(base_url).plan(
            request, model=workload.ORCHESTRATOR_MODEL, max_tokens=workload.PLAN_MAX_TOKENS
        )
    )
    # Loose on purpose: whatever the model planned is fanned out, up to the asked-for count.
    header = group(
        work.s(
            base_url=base_url,
            task=task,
            context=context,
            index=index,
            kind=item.type,
            description=item.description,
        )
        for index, item in enumerate(reply.draft.subtasks[:subtasks])
    )
    chord(header)(gather.s(started=started, retries=retries).set(task_id=gather_id))


@app.task(name=WORK_TASK)  # type: ignore[untyped-decorator]
def work(
    *,
    base_url: str,
    task: str,
    context: dict[str, Any],
    index: int,
    kind: str,
    description: str,
) -> dict[str, Any]:
    assignment = workload.assignment("bare", index, kind, description, task=task, context=context)
    reply, retries = _with_retry(lambda: _client(base_url).run_subtask(assignment))
    return {"index": index, "output": reply.output, "retries": retries}


@app.task(name=GATHER_TASK)  # type: ignore[untyped-decorator]
def gather(results: list[dict[str, Any]], *, started: float, retries: int) -> dict[str, Any]:
    return {
        "started": started,
        "finished": time.time(),
        "outputs": len(results),
        "retries": retries + sum(r["retries"] for r in results),
    }
