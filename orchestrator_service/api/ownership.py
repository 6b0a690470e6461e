"""Whose job is it: the one rule the API and the console both apply."""

from __future__ import annotations

from chorus.contract import limits
from chorus.contract.models import JobRecord
from chorus.core.submission import tenant_job_id
from chorus.store.jobs import JobStore


def owned_job(store: JobStore, job_id: str, who: str) -> JobRecord | None:
    """The caller's job, by the id the API answered with or the one they chose (stored as
    `tenant_job_id`). Another tenant's job does not exist for them; an over-long id names none
    (no key is built from it)."""
    if len(job_id) > limits.MAX_JOB_ID_CHARS:
        return None
    for candidate in (job_id, tenant_job_id(who, job_id)):
        record = store.find(candidate)
        if record is not None and record.request.tenant == who:
            return record
    return None
