"""`orchestrator.retry_job`: run a final job's failed and skipped subtasks again, with its
stored plan, as a new run (`chorus.core.rerun`).

The API and the CLI make the transition themselves (so they can answer at once that the job
is unknown, still running or has nothing to retry) and send this task to dispatch; a bare
Celery client sends it alone and it makes the transition too. Either way the new run's chord
goes out once: the dispatched mark is reset by the retry and taken by the one sender.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import pydantic

from chorus.contract.actions import RetryOptions
from chorus.contract.models import JobRecord, JobStatus, describe_validation_error, job_id_problem
from chorus.core import records, rerun, retry
from chorus.core.ports import TaskDeps
from chorus.errors import RetryLater
from chorus.orchestrator_service import dispatch
from chorus.runtime.signatures import gather_signature

if TYPE_CHECKING:
    from chorus.runtime.app import ChorusCelery

log = logging.getLogger(__name__)

Dispatch = Callable[[JobRecord, Collection[int]], object]


def retry_job(
    deps: TaskDeps, payload: dict[str, Any], *, retries: int, dispatch: Dispatch
) -> dict[str, Any]:
    """Retry the job named by `payload` (job_id, options, idempotency_key) unless that is
    done already, then send the run's subtasks that have no result through `dispatch`.
    Returns {job_id, status, run}, or status `rejected` with the reason."""
    job_id = payload.get("job_id")
    problem = job_id_problem(job_id)
    if problem is not None:
        return _rejected(None, problem)
    assert isinstance(job_id, str)
    try:
        options = RetryOptions.model_validate(payload.get("options") or {})
    except pydantic.ValidationError as exc:
        return _rejected(job_id, f"options: {describe_validation_error(exc)}")
    key = payload.get("idempotency_key")
    key = key if isinstance(key, str) and key else None
    try:
        return _retry(deps, job_id, options, key, dispatch)
    except Exception as exc:
        # Redis away: nothing is lost (the transition and the mark are atomic), so look again.
        delay = retry.internal_error_delay_s(retries, deps.settings)
        if delay is None:
            raise
        log.warning("retry_job %s hit %s; retrying", job_id, type(exc).__name__)
        raise RetryLater(delay, f"internal error: {type(exc).__name__}") from exc


def _retry(
    deps: TaskDeps, job_id: str, options: RetryOptions, key: str | None, dispatch: Dispatch
) -> dict[str, Any]:
    store = deps.store
    record = store.find(job_id)
    if record is None:
        return _rejected(job_id, f"no job {job_id!r}")
    if record.status.is_final:
        record, changed = store.update(
            job_id, lambda r: rerun.with_retry(r, deps.clock(), options, key)
        )
        if not changed and rerun.run_with_key(record, key) is None:
            return _rejected(job_id, rerun.retry_refusal(record) or "cannot be retried")
    if not record.runs:  # still on its first run
        return _rejected(job_id, rerun.retry_refusal(record) or "not retried")
    if record.status is not JobStatus.RUNNING:
        return _answer(record)  # the retry with this key is over already
    if not store.mark_dispatched(job_id):
        return _answer(record)  # this run's subtasks went out already
    missing = records.missing_indices(record, store.results(job_id))
    try:
        dispatch(record, missing)
    except BaseException:
        store.unmark_dispatched(job_id)
        raise
    log.info("job %s run %d: subtasks %s sent again", job_id, rerun.current_run(record), missing)
    return _answer(record)


def _answer(record: JobRecord) -> dict[str, Any]:
    return {
        "job_id": record.job_id,
        "status": record.status.value,
        "run": rerun.current_run(record),
    }


def _rejected(job_id: str | None, reason: str) -> dict[str, Any]:
    log.warning("rejected retry_job message: %s", reason)
    return {"job_id": job_id, "status": "rejected", "error": reason}


def sender(app: ChorusCelery) -> Dispatch:
    """How `orchestrator.retry_job` sends a run: a chord over the subtasks with no result."""

    def send(record: JobRecord, only: Collection[int]) -> None:
        if only:
            dispatch.dispatch_subtasks(app, app.settings, record, only)
        else:  # every result is in already (sent by the reconciler): only the gather is owed
            gather_signature(app, record.job_id).apply_async()

    return send
