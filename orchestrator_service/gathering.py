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

log = logging.getLogger(__name__)

# A callback fired before every result is stored (possible only if a chord miscounts) waits
# this long in total for the stragglers before marking them failed, so nothing hangs.
EARLY_TRIGGER_RETRIES = 10
EARLY_TRIGGER_DELAY_S = 3.0


def gather(task: Any, app: ChorusCelery, job_id: str) -> JobRecord:
    store = app.job_store
    record = store.get(job_id)
    if not records.awaits_results(record):
        return record  # finalised already: a second trigger is a no-op
    stored = store.results(job_id)
    missing = records.missing_indices(record, stored)
    if missing and task.request.retries < EARLY_TRIGGER_RETRIES:
        log.warning("gather for %s fired early; waiting for subtasks %s", job_id, missing)
        raise task.retry(countdown=EARLY_TRIGGER_DELAY_S)
    combined = (
        synthesis.synthesize(task, app, record, stored)
        if synthesis.wanted(record, stored)
        else None
    )
    final, changed = store.update(
        job_id, lambda r: records.finalized(r, stored, records.utc_now(), combined)
    )
    if changed:
        app.job_events.emit(job_id, EventKind.JOB_FINISHED, status=final.status.value)
        log.info("job %s finished %s", job_id, final.status.value)
    return final
