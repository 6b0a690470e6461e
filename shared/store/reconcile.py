"""What the reconciler reads and writes in Redis: the jobs not yet final, one job's state in
one round trip, its re-send count, and the fleet-wide lease that lets one process sweep."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import cast

import redis

from chorus.contract import names
from chorus.contract.events import EventKind
from chorus.contract.models import JobRecord

# Renew the lease only if it is still ours; take it if it is free.
_LEASE_LUA = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# The control hash field counting re-sends (cleared when the job is retried).
# The control hash field counting re-sends (cleared when the job is retried).
ROUNDS_FIELD = "reconciled"


@dataclass(frozen=True)
class JobState:
    record: JobRecord | None
    stored: frozenset[int]
    rounds: int


class ReconcileStore:
    def __init__(self, client: redis.Redis, *, ttl_s: int) -> None:
        self._redis = client
        self._ttl_s = ttl_s
        self._lease = client.register_script(_LEASE_LUA)

    def hold_lease(self, holder: str, ttl_s: float) -> bool:
        """True while `holder` is the one process sweeping (taken when free, kept by
        renewing it before `ttl_s` runs out)."""
        args: list[str | int] = [holder, int(ttl_s * 1000)]
        return bool(self._lease(keys=[names.RECONCILER_LEASE_KEY], args=args))

    def release_lease(self, holder: str) -> None:
        if self._redis.get(names.RECONCILER_LEASE_KEY) == holder:
            self._redis.delete(names.RECONCILER_LEASE_KEY)

    def active_jobs(self) -> list[str]:
        return [str(j) for j in self._redis.zrange(names.ACTIVE_JOBS_KEY, 0, -1)]

    def forget(self, job_id: str) -> None:
        self._redis.zrem(names.ACTIVE_JOBS_KEY, job_id)

    def state(self, job_id: str) -> JobState:
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(names.job_key(job_id))
            pipe.hkeys(names.job_results_key(job_id))
            pipe.hget(names.job_control_key(job_id), ROUNDS_FIELD)
            raw, indices, rounds = pipe.execute()
        record = JobRecord.model_validate_json(raw) if raw is not None else None
        return JobState(record, frozenset(int(i) for i in indices), int(rounds or 0))

    def count_round(self, job_id: str) -> None:
        key = names.job_control_key(job_id)
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, ROUNDS_FIELD, 1)
            pipe.expire(key, self._ttl_s)
            pipe.execute()

    def started_attempts(self, job_id: str) -> Counter[int]:
        """Attempts begun per subtask index, from the job's `subtask_started` events: the
        calls a re-dispatched subtask has already cost in the current run, whatever became
        of their replies."""
        counts: Counter[int] = Counter()
        entries = cast(
            list[tuple[str, dict[str, str]]], self._redis.xrange(names.job_events_key(job_id))
        )
        for _, fields in entries:
            if fields.get("kind") == EventKind.RETRIED.value:
                counts.clear()  # a retry's attempts start over
            elif fields.get("kind") == EventKind.SUBTASK_STARTED.value:
                index = json.loads(fields.get("data", "{}")).get("index")
                if isinstance(index, int):
                    counts[index] += 1
        return counts
