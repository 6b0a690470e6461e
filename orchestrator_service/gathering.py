"""The gather step: the chord callback builds the final record from the stored results.

It reads the per-index results the workers recorded (not the chord's arguments), so a
duplicate chord part cannot distort the record, and it finalises through one atomic
transition, so a second trigger changes nothing.
"""

from __future__ import annotations

import logging

from chorus.contract.models import JobRecord
from chorus.core import records, retry
from chorus.core.ports import TaskDeps
from chorus.errors import JobNotFound, RetryLater
from chorus.orchestrator_service import synthesis

log = logging.getLogger(__name__)


def gather(
    deps: TaskDeps,
    job_id: str,
    *,
    retries: int,
    task_id: str,
    synthesis_attempts: int = 0,
    give_up: str | None = None,
) -> JobRecord:
    """Finalise the job once every result is in, or once stragglers can no longer arrive
    (what never came is then marked failed). `task_id` identifies this gather task for the
    job's one synthesis claim; `synthesis_attempts` counts the synthesis calls tried so far.
    `give_up` (sent by the reconciler) finalises at once, with that reason on every subtask
    that has no result."""
    try:
        return _gather(deps, job_id, retries, task_id, synthesis_attempts, give_up)
    except (RetryLater, JobNotFound):
        raise
    except Exception as exc:
        # Redis away or a reply cut short: nothing is final until the transition commits, so
        # look again on the recheck schedule until it does; a job must never stay running.
        log.warning("gather for %s hit %s; looking again", job_id, type(exc).__name__)
        delay = retry.gather_recheck_delay_s(retries)
        raise RetryLater(delay, f"internal error: {type(exc).__name__}") from exc


def _gather(
    deps: TaskDeps,
    job_id: str,
    retries: int,
    task_id: str,
    synthesis_attempts: int,
    give_up: str | None,
) -> JobRecord:
    store = deps.store
    record = store.find(job_id)
    if record is None:
        raise JobNotFound(job_id)
    if not records.awaits_results(record):
        return record  # finalised already: a second trigger is a no-op
    stored = store.results(job_id)
    missing = records.missing_indices(record, stored)
    waited = retry.gather_waited_s(retries)
    if missing and give_up is None and waited < retry.straggler_wait_s(deps.settings):
        log.warning("gather for %s fired early: subtasks %s not recorded yet", job_id, missing)
        raise RetryLater(retry.gather_recheck_delay_s(retries), f"subtasks {missing} missing")
    combined = None
    if synthesis.wanted(record, stored):
        # A second gather task for the job (a duplicate trigger) must not pay for another
        # synthesis call. The claim is per task id: a redelivery of the claimant (same id)
        # carries on where it stopped.
        if not store.claim_gather(job_id, task_id, ttl_s=retry.straggler_wait_s(deps.settings)):
            raise RetryLater(retry.SYNTHESIS_CLAIM_BUSY_S, "another gather holds the synthesis")
        combined = synthesis.synthesize(deps, record, stored, attempt=synthesis_attempts + 1)
    missing_error = give_up or records.MISSING_RESULT_ERROR
    final, changed = store.update(
        job_id, lambda r: records.finalized(r, stored, deps.clock(), combined, missing_error)
    )
    if changed:  # `job_finished` went out with the transition
        log.info("job %s finished %s", job_id, final.status.value)
    return final
