"""Optional synthesis: one more model call that combines the worker outputs into an answer.

Transient failures retry through Celery like every model call; a permanent one leaves the
job's results intact and records why there is no synthesis.
"""

from __future__ import annotations

import logging
from typing import Any

from shared.celery_app import ChorusCelery
from shared.errors import ModelCallError
from shared.models import JobRecord, JobStatus, SubtaskResult, SubtaskStatus, Usage
from shared.records import Synthesis
from shared.retry_policy import next_retry_delay_s

log = logging.getLogger(__name__)


def wanted(record: JobRecord, results: dict[int, SubtaskResult]) -> bool:
    succeeded = any(r.status is SubtaskStatus.SUCCEEDED for r in results.values())
    running = record.status is JobStatus.RUNNING
    return running and record.request.options.synthesize and succeeded


def synthesize(
    task: Any, app: ChorusCelery, record: JobRecord, results: dict[int, SubtaskResult]
) -> Synthesis:
    outputs = [
        {"type": r.type, "output": r.output or ""}
        for _, r in sorted(results.items())
        if r.status is SubtaskStatus.SUCCEEDED
    ]
    options = record.request.options
    try:
        reply = app.model_client.synthesize(
            record.request.task,
            record.request.context,
            outputs,
            model=record.orchestrator_model,
            max_tokens=options.plan_max_tokens or app.settings.plan_max_tokens,
        )
    except ModelCallError as exc:
        attempt = task.request.retries + 1
        delay = next_retry_delay_s(exc.retryable, exc.retry_after_s, attempt, app.settings)
        if delay is not None:
            app.job_store.count_retry("synthesis")
            raise task.retry(countdown=delay, exc=exc) from exc
        log.warning("synthesis for %s failed: %s", record.job_id, exc.message)
        return Synthesis(text=None, usage=Usage(), error=exc.message)
    return Synthesis(text=reply.output, usage=reply.usage)
