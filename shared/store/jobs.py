"""The job store: JobRecords and per-subtask results in Redis.

Every change to a record is a WATCH/MULTI transaction around a pure transition from
`chorus.core.records`, so concurrent writers never lose an update. Subtask results go into a hash
with HSETNX: the first final result for (job_id, index) wins and redeliveries read it back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import cast

import redis

from chorus.contract import limits, names
from chorus.contract.actions import RetryOptions
from chorus.contract.events import MAX_EVENTS_PER_JOB, EventKind, event_fields
from chorus.contract.models import JobRecord, JobStatus, SubtaskResult
from chorus.core import announcements, fleet_buckets, metrics, records, rerun
from chorus.core.ports import DeltaTail, JobControl
from chorus.errors import InvalidTransition, JobNotFound, JobTimeout
from chorus.settings import Settings
from chorus.store.cache_signals import CacheSignals
from chorus.store.connection import redis_client
from chorus.store.events import delta_fields
from chorus.store.job_claims import OWNED_FIELD, JobClaims
from chorus.store.scripts import SAVE_RESULT_LUA
from chorus.store.transitions import minute_of, queue_transition


class JobStore(JobClaims, CacheSignals):
    def __init__(
        self,
        client: redis.Redis,
        *,
        ttl_s: int,
        delta_linger_s: float = limits.DEFAULT_DELTA_LINGER_S,
    ) -> None:
        self._redis = client
        self._ttl_s = ttl_s
        # Delta streams expire this long after a subtask's result or the job's end.
        self._linger_ms = max(1, int(delta_linger_s * 1000))
        self._save_result = client.register_script(SAVE_RESULT_LUA)

    @property
    def client(self) -> redis.Redis:
        """The store's connection pool, for read-only views (the console's Fleet page)."""
        return self._redis

    @classmethod
    def from_settings(cls, settings: Settings) -> JobStore:
        return cls(
            redis_client(settings),
            ttl_s=settings.job_ttl_s,
            delta_linger_s=settings.delta_linger_s,
        )

    def create(self, record: JobRecord) -> JobRecord:
        """Store a new record; if the job already exists, return the stored one unchanged."""
        key = names.job_key(record.job_id)
        created = self._redis.set(key, record.model_dump_json(), nx=True, ex=self._ttl_s)
        if created:
            score = record.created_at.timestamp()
            indexes = [names.JOB_INDEX_KEY]
            if record.request.tenant:
                indexes.append(names.tenant_index_key(record.request.tenant))
            with self._redis.pipeline(transaction=False) as pipe:
                for index in indexes:
                    pipe.zadd(index, {record.job_id: score})
                    # An index outlives no record: entries older than the TTL point at nothing.
                    pipe.zremrangebyscore(index, "-inf", score - self._ttl_s)
                pipe.hincrby(names.METRICS_KEY, metrics.JOBS_SUBMITTED, 1)
                # Watched by the reconciler until the job is final.
                pipe.zadd(names.ACTIVE_JOBS_KEY, {record.job_id: score})
                pipe.execute()
            return record
        return self.get(record.job_id)

    def get(self, job_id: str) -> JobRecord:
        raw = self._redis.get(names.job_key(job_id))
        if raw is None:
            raise JobNotFound(job_id)
        return JobRecord.model_validate_json(raw)

    def find(self, job_id: str) -> JobRecord | None:
        try:
            return self.get(job_id)
        except JobNotFound:
            return None

    def update(
        self, job_id: str, change: Callable[[JobRecord], JobRecord]
    ) -> tuple[JobRecord, bool]:
        """Apply `change` atomically, with its metrics and its event (`planned`,
        `job_finished`, `cancelled`) in the same transaction. Returns (record, changed); an
        InvalidTransition raised by `change` leaves the record as it is, changed=False."""
        key = names.job_key(job_id)
        with self._redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    raw = pipe.get(key)
                    if raw is None:
                        raise JobNotFound(job_id)
                    current = JobRecord.model_validate_json(raw)
                    try:
                        updated = change(current)
                    except InvalidTransition:
                        pipe.unwatch()
                        return current, False
                    pipe.multi()
                    pipe.set(key, updated.model_dump_json(), ex=self._ttl_s)
                    queue_transition(
                        pipe, job_id, current, updated, self._ttl_s, linger_ms=self._linger_ms
                    )
                    pipe.execute()
                    return updated, True
                except redis.WatchError:
                    continue

    def save_result(
        self,
        job_id: str,
        result: SubtaskResult,
        tenant: str | None = None,
        *,
        tail: DeltaTail | None = None,
    ) -> SubtaskResult:
        """Record a final subtask result once, counting its spend (for the job, and the fleet's
        counters under `tenant`) and announcing it (`subtask_finished`) once, after the reply's
        last text (`tail`) when there is one. Returns whichever result was recorded first."""
        keys = [
            names.job_results_key(job_id),
            names.job_control_key(job_id),
            names.METRICS_KEY,
            names.job_events_key(job_id),
            names.fleet_minute_key(minute_of(result.finished_at)),
            names.job_deltas_key(job_id, result.index),
        ]
        usage = result.usage
        increments = metrics.result_increments(result, tenant)
        counters = [x for pair in increments.items() for x in pair]
        minute = fleet_buckets.minute_increments(increments, tenant)
        bucket = [x for pair in minute.items() for x in pair]
        event = event_fields(
            job_id, EventKind.SUBTASK_FINISHED, **announcements.subtask_finished(result)
        )
        delta = ""
        if tail is not None:
            delta = delta_fields(job_id, result.index, tail.attempt, tail.text)["data"]
        stored = self._save_result(
            keys=keys,
            args=[
                result.index,
                result.model_dump_json(),
                usage.total_tokens,
                usage.cost_usd,
                self._ttl_s,
                event["kind"],
                event["data"],
                MAX_EVENTS_PER_JOB,
                fleet_buckets.BUCKET_TTL_S,
                14 + len(counters),  # where the bucket's pairs start (the script's ARGV[10])
                self._linger_ms,
                delta,
                "1" if tail is not None and tail.fresh else "0",
                *counters,
                *bucket,
            ],
        )
        return SubtaskResult.model_validate_json(stored)

    def claim_gather(self, job_id: str, claimant: str, *, ttl_s: float) -> bool:
        """True for the first claimant of the job's gather step (and for it again later).
        The claim outlives no record: its TTL is at most the job's."""
        key = names.job_gather_claim_key(job_id)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(key, claimant, nx=True, px=int(min(ttl_s, self._ttl_s) * 1000))
            pipe.get(key)
            _, holder = pipe.execute()
        return bool(holder == claimant)

    def count_retry(self, stage: str) -> None:
        """One more retry (or re-queue) of a model call at `stage`, for the metrics."""
        self._redis.hincrby(names.METRICS_KEY, metrics.retries_field(stage), 1)

    def before_subtask(self, job_id: str, index: int) -> tuple[SubtaskResult | None, JobControl]:
        """What a worker checks before a call, in one round trip: the result already stored
        for this subtask (a redelivery), the job's spend and cancel flag, and whether the job
        owns this subtask at all (the record is read only for a job that predates the
        `subtasks` field or no longer awaits results)."""
        fields = ["tokens", "cost_usd", "cancelled", OWNED_FIELD]
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hget(names.job_results_key(job_id), str(index))
            pipe.hmget(names.job_control_key(job_id), fields)
            pipe.exists(names.job_key(job_id))
            raw, (tokens, cost, cancelled, owned), exists = pipe.execute()
        stored = SubtaskResult.model_validate_json(raw) if raw is not None else None
        refusal = None if stored else self._subtask_refusal(job_id, index, owned, bool(exists))
        control = JobControl(int(tokens or 0), float(cost or 0.0), cancelled == "1", refusal)
        return stored, control

    def cancel(self, job_id: str) -> tuple[JobRecord, bool]:
        """Mark the job cancelled (idempotent) and tell its workers to call no model.
        Returns (record, whether this call cancelled it)."""
        record, changed = self.update(
            job_id, lambda r: records.with_cancellation(r, records.utc_now())
        )
        if record.status is JobStatus.CANCELLED:
            key = names.job_control_key(job_id)
            with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, "cancelled", "1")
                pipe.expire(key, self._ttl_s)
                pipe.execute()
        return record, changed

    def retry(
        self, job_id: str, options: RetryOptions | None = None, key: str | None = None
    ) -> tuple[JobRecord, bool]:
        """Run the job's failed and skipped subtasks again as a new run (`rerun.with_retry`;
        its resets ride in the same transaction). Returns (record, changed): unchanged when a
        retry with this Idempotency-Key already started. InvalidTransition with the reason
        when the job cannot be retried (not final, nothing failed...)."""
        record, changed = self.update(
            job_id, lambda r: rerun.with_retry(r, records.utc_now(), options, key)
        )
        if not changed and rerun.run_with_key(record, key) is None:
            raise InvalidTransition(rerun.retry_refusal(record) or "the job cannot be retried")
        return record, changed

    def get_result(self, job_id: str, index: int) -> SubtaskResult | None:
        raw = self._redis.hget(names.job_results_key(job_id), str(index))
        return SubtaskResult.model_validate_json(raw) if raw is not None else None

    def results(self, job_id: str) -> dict[int, SubtaskResult]:
        raw = self._redis.hgetall(names.job_results_key(job_id))
        return {int(k): SubtaskResult.model_validate_json(v) for k, v in raw.items()}

    def results_count(self, job_id: str) -> int:
        return int(self._redis.hlen(names.job_results_key(job_id)))

    def recent_jobs(
        self, limit: int, *, tenant: str | None = None, before: float | None = None
    ) -> list[tuple[str, float]]:
        """(job_id, created timestamp), newest first, strictly older than `before`."""
        index = names.tenant_index_key(tenant) if tenant else names.JOB_INDEX_KEY
        high = f"({before}" if before is not None else "+inf"
        rows = cast(
            list[tuple[str, float]],
            self._redis.zrevrangebyscore(index, high, "-inf", start=0, num=limit, withscores=True),
        )
        return [(str(job_id), float(score)) for job_id, score in rows]

    def claim_idempotency_key(
        self, tenant: str, key: str, job_id: str, fingerprint: str
    ) -> tuple[str, str]:
        """Bind (tenant, key) to this job once; returns the (job_id, fingerprint) bound first."""
        redis_key = names.idempotency_key(tenant, key)
        value = json.dumps({"job_id": job_id, "fingerprint": fingerprint})
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(redis_key, value, nx=True, ex=self._ttl_s)
            pipe.get(redis_key)
            _, stored = pipe.execute()
        bound = json.loads(stored)
        return str(bound["job_id"]), str(bound["fingerprint"])

    def ping(self) -> bool:
        return bool(self._redis.ping())

    def close(self) -> None:
        self._redis.close()


def wait_for_job(
    store: JobStore,
    job_id: str,
    *,
    timeout_s: float,
    poll_s: float = 0.1,
    on_update: Callable[[JobRecord | None, int], None] | None = None,
) -> JobRecord:
    """Poll until the job is final; `on_update(record, results_done)` sees progress."""
    deadline = time.monotonic() + timeout_s
    while True:
        record = store.find(job_id)
        if on_update is not None:
            on_update(record, store.results_count(job_id) if record else 0)
        if record is not None and record.status.is_final:
            return record
        if time.monotonic() >= deadline:
            status = record.status.value if record else "not yet recorded"
            raise JobTimeout(f"job {job_id} still {status} after {timeout_s:.0f}s")
        time.sleep(poll_s)
