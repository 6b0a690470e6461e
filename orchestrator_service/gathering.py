"""The gather step: the chord callback builds the final record from the stored results.

It reads the per-index results the workers recorded (not the chord's arguments), so a
duplicate chord part cannot distort the record, and it finalises through one atomic
transition, so a second trigger changes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from orchestrator_service import synthesis
from shared import constants, records
from shared.celery_app import ChorusCelery
from shared.models import JobRecord
from shared.settings import Settings

log = logging.getLogger(__name__)


# A callback that finds results missing (the chord counted a redelivered part twice, which
# only happens after a crash or hand-back) looks again after 1, 2, 4, 8 s, then every 15 s, for
# as long as a subtask can still arrive; after that, what never came is marked failed.
def recheck_delay_s(retries: int) -> float:
    delay: float = constants.GATHER_RECHECK_FIRST_S * 2.0**retries
    return min(delay, constants.GATHER_RECHECK_MAX_S)


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
    retries = task.request.retries
    waited_s = sum(recheck_delay_s(n) for n in range(retries))
    if missing and waited_s < straggler_wait_s(app.settings):
        log.warning("gather for %s fired early: subtasks %s not recorded yet", job_id, missing)
        raise task.retry(countdown=recheck_delay_s(retries))
    combined = None
    if synthesis.wanted(record, stored):
        # A second gather task for the job (a duplicate trigger) must not pay for another
        # synthesis call. The claim is per task id: a redelivery of the claimant (same id)
        # carries on where it stopped.
        if not store.claim_gather(job_id, task.request.id, ttl_s=straggler_wait_s(app.settings)):
            raise task.retry(countdown=constants.GATHER_RECHECK_MAX_S)
        combined = synthesis.synthesize(task, app, record, stored)
    final, changed = store.update(
        job_id, lambda r: records.finalized(r, stored, records.utc_now(), combined)
    )
    if changed:  # `job_finished` went out with the transition
        log.info("job %s finished %s", job_id, final.status.value)
    return final
