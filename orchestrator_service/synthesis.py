"""Optional synthesis: one more model call that combines the worker outputs into an answer.

Transient failures ask for a retry like every model call; a permanent one leaves the job's
results intact and records why there is no synthesis.
"""

from __future__ import annotations

import logging

from chorus.contract.models import JobRecord, JobStatus, SubtaskResult, SubtaskStatus, Usage
from chorus.core import retry
from chorus.core.ports import TaskDeps
from chorus.core.records import Synthesis
from chorus.errors import ModelCallError, RetryLater

log = logging.getLogger(__name__)


def wanted(record: JobRecord, results: dict[int, SubtaskResult]) -> bool:
    succeeded = any(r.status is SubtaskStatus.SUCCEEDED for r in results.values())
    running = record.status is JobStatus.RUNNING
    return running and record.request.options.synthesize and succeeded


def synthesize(
    deps: TaskDeps, record: JobRecord, results: dict[int, SubtaskResult], *, retries: int
) -> Synthesis:
    outputs = [
        {"type": r.type, "output": r.output or ""}
        for _, r in sorted(results.items())
        if r.status is SubtaskStatus.SUCCEEDED
    ]
    options = record.request.options
    try:
        reply = deps.model.synthesize(
            record.request.task,
            record.request.context,
            outputs,
            model=record.orchestrator_model,
            max_tokens=options.plan_max_tokens or deps.settings.plan_max_tokens,
        )
    except ModelCallError as exc:
        attempt = retries + 1
        delay = retry.next_retry_delay_s(exc.retryable, exc.retry_after_s, attempt, deps.settings)
        if delay is not None:
            deps.store.count_retry("synthesis")
            raise RetryLater(delay, exc.message) from exc
        log.warning("synthesis for %s failed: %s", record.job_id, exc.message)
        return Synthesis(text=None, usage=Usage(), error=exc.message)
    return Synthesis(text=reply.output, usage=reply.usage)
