"""The reconciler: no job stays `planning` or `running` with nothing in flight.

Orchestrator processes run it; one at a time fleet-wide holds a lease in Redis and sweeps
every `reconcile_interval_s`. A job whose messages have all vanished (see
`chorus.runtime.ownership`) for `reconcile_grace_s` is driven on from its record by the
decision in `chorus.core.reconcile`. The same sweep hands back deliveries that sit unacked in
no process's ledger.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection
from typing import Protocol

import redis
from celery import Celery

from chorus.contract import names
from chorus.contract.models import JobRecord
from chorus.core import records, review
from chorus.core.reconcile import Action, Decision, decide
from chorus.orchestrator_service.dispatch import assignments
from chorus.runtime.enqueue import enqueue_job
from chorus.runtime.ownership import MessageScanner, hand_back_orphans
from chorus.runtime.redelivery import hand_back_script
from chorus.runtime.signatures import gather_signature, subtask_signature
from chorus.settings import Settings
from chorus.store.jobs import JobStore
from chorus.store.reconcile import JobState, ReconcileStore

log = logging.getLogger(__name__)


class StatePort(Protocol):
    """What the reconciler reads and writes (`chorus.store.reconcile.ReconcileStore`)."""

    def active_jobs(self) -> list[str]: ...
    def forget(self, job_id: str) -> None: ...
    def state(self, job_id: str) -> JobState: ...
    def count_round(self, job_id: str) -> None: ...
    def started_attempts(self, job_id: str) -> Counter[int]: ...


class Sender(Protocol):
    """How the reconciler puts work back in flight."""

    def plan(self, record: JobRecord) -> None: ...
    def dispatch(self, record: JobRecord, prior_attempts: dict[int, int]) -> None: ...
    def gather(self, job_id: str, give_up: str | None) -> None: ...
    def fail(self, job_id: str, reason: str) -> None: ...
    def expire_review(self, job_id: str, reason: str) -> None: ...


class Reconciler:
    def __init__(
        self,
        store: StatePort,
        sender: Sender,
        jobs_with_messages: Callable[[], Collection[str]],
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._send = sender
        self._jobs_with_messages = jobs_with_messages
        self._settings = settings
        self._clock = clock
        self._unowned_since: dict[str, float] = {}

    def sweep(self) -> dict[str, Decision]:
        """One pass: what was done, by job."""
        active = self._store.active_jobs()
        if not active:
            self._unowned_since.clear()
            return {}
        owned = set(self._jobs_with_messages())
        now = self._clock()
        unowned = {j: self._unowned_since.get(j, now) for j in active if j not in owned}
        self._unowned_since = unowned
        done: dict[str, Decision] = {}
        for job_id, since in list(unowned.items()):
            if now - since < self._settings.reconcile_grace_s:
                continue
            decision = self._drive(job_id, now - since)
            done[job_id] = decision
            if decision.action is Action.FORGET:
                del self._unowned_since[job_id]
            else:
                self._unowned_since[job_id] = now  # what was just sent gets a grace period
        return done

    def _drive(self, job_id: str, idle_s: float) -> Decision:
        state = self._store.state(job_id)
        decision = decide(
            state.record,
            state.stored,
            now=records.utc_now(),
            rounds=state.rounds,
            max_rounds=self._settings.max_attempts,
        )
        if decision.action is Action.FORGET:
            self._store.forget(job_id)
            return decision
        if decision.action is Action.WAIT:  # waiting for a person is not being stuck
            return decision
        record = state.record
        assert record is not None
        log.warning(
            "job %s had nothing in flight for %.0fs (%s): %s %s",
            job_id,
            idle_s,
            record.status.value,
            decision.action.value,
            list(decision.indices) or decision.reason or "",
        )
        self._store.count_round(job_id)
        if decision.action is Action.PLAN:
            self._send.plan(record)
        elif decision.action is Action.DISPATCH:
            started = self._store.started_attempts(job_id)
            self._send.dispatch(record, {i: started[i] for i in decision.indices})
        elif decision.action is Action.FAIL:
            self._send.fail(job_id, decision.reason or "")
        elif decision.action is Action.EXPIRE_REVIEW:
            self._send.expire_review(job_id, decision.reason or "")
        else:  # GATHER, FINISH
            self._send.gather(job_id, decision.reason)
        return decision


class CelerySender:
    def __init__(self, app: Celery, settings: Settings, jobs: JobStore) -> None:
        self._app, self._settings, self._jobs = app, settings, jobs

    def plan(self, record: JobRecord) -> None:
        enqueue_job(self._app, record.request)

    def dispatch(self, record: JobRecord, prior_attempts: dict[int, int]) -> None:
        # Not a chord: the original one is gone. The reconciler gathers once all are in.
        ceiling = self._settings.max_attempts - 1
        for assignment in assignments(self._settings, record):
            index = assignment.subtask.index
            if index in prior_attempts:
                # Calls already begun count as attempts (the record says what a subtask
                # cost), leaving at least one.
                prior = min(prior_attempts[index], ceiling)
                update = {"attempts_made": max(prior, assignment.attempts_made)}
                subtask_signature(self._app, assignment.model_copy(update=update)).apply_async()

    def gather(self, job_id: str, give_up: str | None) -> None:
        gather_signature(self._app, job_id, give_up=give_up).apply_async()

    def fail(self, job_id: str, reason: str) -> None:
        self._jobs.update(job_id, lambda r: records.with_failure(r, reason, records.utc_now()))

    def expire_review(self, job_id: str, reason: str) -> None:
        # Through the review transition, so the record says the review timed out.
        self._jobs.update(
            job_id,
            lambda r: review.with_review(r, "timed_out", records.utc_now(), reason=reason),
        )


class ReconcilerThread(threading.Thread):
    """Sweeps while this process holds the fleet's reconciler lease."""

    def __init__(self, app: Celery, settings: Settings, client: redis.Redis) -> None:
        super().__init__(name="chorus-reconciler", daemon=True)
        jobs = JobStore(client, ttl_s=settings.job_ttl_s, delta_linger_s=settings.delta_linger_s)
        self._store = ReconcileStore(client, ttl_s=settings.job_ttl_s)
        scanner = MessageScanner(client, (names.ORCHESTRATOR_QUEUE, names.SUBTASKS_QUEUE))
        self.reconciler = Reconciler(
            self._store, CelerySender(app, settings, jobs), scanner.jobs_with_messages, settings
        )
        self._client = client
        self._hand_back = hand_back_script(client)
        self._settings = settings
        self._holder = f"reconciler/{uuid.uuid4().hex[:12]}"
        self._stop = threading.Event()

    def run(self) -> None:
        interval = self._settings.reconcile_interval_s
        while not self._stop.is_set():
            try:
                if self._store.hold_lease(self._holder, ttl_s=3 * interval):
                    self.reconciler.sweep()
                    grace = self._settings.reconcile_grace_s
                    moved = hand_back_orphans(self._client, self._hand_back, older_than_s=grace)
                    if moved:
                        log.warning("handed back %d delivery(ies) no process held", moved)
            except redis.RedisError as exc:
                # Redis is away or refusing writes: the next sweep looks again.
                log.warning("reconciler sweep failed: %s", type(exc).__name__)
            except Exception:
                log.exception("reconciler sweep crashed")
            self._stop.wait(interval)

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(redis.RedisError):  # it lapses on its own
            self._store.release_lease(self._holder)
