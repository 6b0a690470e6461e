"""The gather step: the chord callback builds the final record from the stored results.

It reads the per-index results the workers recorded (not the chord's arguments), so a
duplicate chord part cannot distort the record, and it finalises through one atomic
transition, so a second trigger changes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from orchestrator_service import synthesis
from shared import records
from shared.celery_app import ChorusCelery
from shared.job_events import EventKind
from shared.models import JobRecord
from shared.settings import Settings

log = logging.getLogger(__name__)

# A trigger that finds results missing (the chord counted a redelivered part twice) looks
# again this often. Normally the worker that records the last result gathers first, and these
# checks find the job final; they exist so that a result that never comes cannot hang the job.
EARLY_TRIGGER_DELAY_S = 15.0


def straggler_wait_s(settings: Settings) -> float:
    """How long a subtask can legitimately still take: every attempt timing out, the longest
    backoff between them, and a dead worker's messages being handed back."""
    attempts = settings.max_attempts
    return (
        settings.model_timeout_s * attempts
        + settings.retry_max_s * (attempts - 1)
        + settings.heartbeat_ttl_s
        + 2 * settings.heartbeat_interval_s
    )


def gather(task: Any, app: ChorusCelery, job_id: str) -> JobRecord:
    store = app.job_store
    record = store.get(job_id)
    if not records.awaits_results(record):
        return record  # finalised already: a second trigger is a no-op
    stored = store.results(job_id)
    missing = records.missing_indices(record, stored)
    waited_s = task.request.retries * EARLY_TRIGGER_DELAY_S
    if missing and waited_s < straggler_wait_s(app.settings):
        log.info("gather for %s: subtasks %s not recorded yet; looking again", job_id, missing)
        raise task.retry(countdown=EARLY_TRIGGER_DELAY_S)
    combined = None
    if synthesis.wanted(record, stored):
        # Both triggers may arrive together; only one may pay for the synthesis call. The
        # claim is per task id, so a redelivery of the claimant carries on where it stopped.
        if not store.claim_gather(job_id, task.request.id, ttl_s=straggler_wait_s(app.settings)):
            raise task.retry(countdown=EARLY_TRIGGER_DELAY_S)
        combined = synthesis.synthesize(task, app, record, stored)
    final, changed = store.update(
        job_id, lambda r: records.finalized(r, stored, records.utc_now(), combined)
    )
    if changed:
        app.job_events.emit(job_id, EventKind.JOB_FINISHED, status=final.status.value)
        log.info("job %s finished %s", job_id, final.status.value)
    return final
