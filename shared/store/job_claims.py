"""What makes each step of a job happen once per job, however many messages name it: the
planning claim (one delivery of `run_job` asks for the plan), the dispatched mark (one chord),
and the subtasks a job owns (a worker runs nothing for a job that does not expect it).

`JobStore` mixes these in; they live here to keep the store's module small.
"""

from __future__ import annotations

import redis
from redis.client import Pipeline

from chorus.contract import names
from chorus.contract.models import JobRecord
from chorus.core import records
from chorus.store.reconcile import ROUNDS_FIELD

# The control hash field holding the plan's indices while the job awaits their results.
OWNED_FIELD = "subtasks"

# Take the claim when it is free, or renew it for its holder (a retry or a redelivery of the
# holding message); anyone else is refused until it lapses.
_CLAIM_LUA = """
local held = redis.call('GET', KEYS[1])
if not held then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if held == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


class JobClaims:
    _redis: redis.Redis
    _ttl_s: int

    def claim_planning(self, job_id: str, claimant: str, *, ttl_s: float) -> bool:
        """True for the one delivery that may plan the job, again for it on a retry (renewed)."""
        key = names.job_planning_claim_key(job_id)
        return bool(self._redis.eval(_CLAIM_LUA, 1, key, claimant, int(ttl_s * 1000)))

    def mark_dispatched(self, job_id: str) -> bool:
        """True for the first caller only: it sends the job's chord."""
        key = names.job_dispatched_key(job_id)
        return bool(self._redis.set(key, "1", nx=True, ex=self._ttl_s))

    def unmark_dispatched(self, job_id: str) -> None:
        """The send failed before the chord went out: the next try may send it."""
        self._redis.delete(names.job_dispatched_key(job_id))

    def _subtask_refusal(
        self, job_id: str, index: int, owned: str | None, exists: bool
    ) -> str | None:
        """`owned` is the control hash's field; without it (a job planned before the field
        existed, or one no longer awaiting results) the record decides."""
        if owned is not None and exists:
            indices = [int(i) for i in owned.split(",") if i]
            return records.subtask_refusal(job_id, index, None, indices)
        raw = self._redis.get(names.job_key(job_id)) if exists else None
        record = JobRecord.model_validate_json(raw) if raw is not None else None
        held = records.owned_subtasks(record) if record is not None else None
        return records.subtask_refusal(job_id, index, record, held)


def queue_owned_subtasks(
    pipe: Pipeline, job_id: str, before: JobRecord, after: JobRecord, ttl_s: int
) -> None:
    """Keep the control hash's `subtasks` field in step with the record, in its transaction:
    set when the plan is stored, removed once the job takes no more results."""
    owned = records.owned_subtasks(after)
    if owned == records.owned_subtasks(before):
        return
    key = names.job_control_key(job_id)
    if owned is None:
        pipe.hdel(key, OWNED_FIELD)
    else:
        pipe.hset(key, OWNED_FIELD, ",".join(str(i) for i in owned))
        pipe.expire(key, ttl_s)


def queue_rerun(pipe: Pipeline, job_id: str, record: JobRecord, ttl_s: int) -> None:
    """Queue what a retry (`chorus.core.rerun.with_retry`) resets, in its transaction: the
    retried subtasks' stored results (so workers run them), the cancel flag and the
    reconciler's re-send count, the dispatched mark and the synthesis claim (each once per
    run), and the job back on the reconciler's watch list."""
    retried = record.runs[-1].subtasks if record.runs else []
    if retried:
        pipe.hdel(names.job_results_key(job_id), *(str(i) for i in retried))
    pipe.hdel(names.job_control_key(job_id), "cancelled", ROUNDS_FIELD)
    pipe.delete(names.job_dispatched_key(job_id), names.job_gather_claim_key(job_id))
    pipe.zadd(names.ACTIVE_JOBS_KEY, {job_id: record.created_at.timestamp()})
