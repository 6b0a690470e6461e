"""Optional synthesis: one more model call that combines the worker outputs into an answer.

Transient failures ask for a retry like every model call; a permanent one leaves the job's
results intact and records why there is no synthesis.
"""

from __future__ import annotations

import logging

from chorus.contract.models import JobRecord, JobStatus, SubtaskResult, SubtaskStatus, Usage
from chorus.core import caching, retry
from chorus.core.deltas import DeltaWriter
from chorus.core.outputs import parse_output
from chorus.core.ports import TaskDeps, WorkerReply
from chorus.core.prompts import Repair
from chorus.core.records import Synthesis
from chorus.errors import ModelCallError, RetryLater

log = logging.getLogger(__name__)


def wanted(record: JobRecord, results: dict[int, SubtaskResult]) -> bool:
    succeeded = any(r.status is SubtaskStatus.SUCCEEDED for r in results.values())
    running = record.status is JobStatus.RUNNING
    return running and record.request.options.synthesize and succeeded


def synthesize(
    deps: TaskDeps, record: JobRecord, results: dict[int, SubtaskResult], *, attempt: int
) -> Synthesis:
    """The combined answer, or the reason there is none. A transient failure asks for a retry
    whose kwargs carry the attempt count (the gather task's own retries also count rechecks
    for stragglers, so they cannot)."""
    outputs = [
        {"type": r.type, "output": r.output or ""}
        for _, r in sorted(results.items())
        if r.status is SubtaskStatus.SUCCEEDED
    ]
    live = DeltaWriter(deps.events, record.job_id, None, attempt)
    try:
        live_text = live if deps.settings.stream_deltas else None
        return _combine(deps, record, list(results.values()), outputs, live_text)
    except ModelCallError as exc:
        if deps.settings.stream_deltas:  # its partial text is no answer: a retry starts over
            live.drop()
        delay = retry.next_retry_delay_s(exc.retryable, exc.retry_after_s, attempt, deps.settings)
        if delay is not None:
            deps.store.count_retry("synthesis")
            kwargs = {"job_id": record.job_id, "synthesis_attempts": attempt}
            raise RetryLater(delay, exc.message, kwargs=kwargs) from exc
        log.warning("synthesis for %s failed: %s", record.job_id, exc.message)
        return Synthesis(text=None, usage=Usage(), error=exc.message)
    except Exception as exc:
        # A bug must not keep the job from ending: the outputs are there, the synthesis not.
        log.exception("synthesis for %s crashed", record.job_id)
        return Synthesis(text=None, usage=Usage(), error=f"internal error: {type(exc).__name__}")


REPAIR_ROUNDS = 1


def _combine(
    deps: TaskDeps,
    record: JobRecord,
    results: list[SubtaskResult],
    outputs: list[dict[str, str]],
    live: DeltaWriter | None,
) -> Synthesis:
    """The synthesis call, its text published as it arrives (`live`); with a synthesis
    schema, the reply parsed, and one repair round for a reply that does not match (then the
    text stays, with the reason). A repair round's text is not published, as for workers."""
    options = record.request.options
    schema = options.synthesis_schema
    ttl = caching.synthesis_ttl(record, results, deps.settings.cache_min_tokens)

    def call(repair: Repair | None = None, on_text: DeltaWriter | None = None) -> WorkerReply:
        return deps.model.synthesize(
            record.request,
            outputs,
            model=record.orchestrator_model,
            max_tokens=options.plan_max_tokens or deps.settings.plan_max_tokens,
            repair=repair,
            on_text=on_text,
            cache_ttl=ttl,
        )

    reply = call(on_text=live)
    if live is not None:
        live.close()
    if schema is None:
        return Synthesis(text=reply.output, usage=reply.usage)
    spent = reply.usage
    data, problem = parse_output(reply.output, schema)
    if problem is not None:
        reply = call(Repair(reply=reply.output, problem=problem))
        spent = spent + reply.usage
        data, problem = parse_output(reply.output, schema)
    error = f"synthesis_schema: {problem} (after {REPAIR_ROUNDS} repair round)" if problem else None
    return Synthesis(text=reply.output, usage=spent, error=error, data=data)
