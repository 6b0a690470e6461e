"""In-memory stand-ins for what task logic takes in a `TaskDeps`: no Redis, no model, no sleep.

`MemoryStore` keeps the semantics of `chorus.store.jobs.JobStore` that task logic relies on:

- `create` is set-if-absent and returns the stored record;
- `update` applies a pure change, announces its event (`records.transition_event`) and books
  the planning spend (`records.planning_spend`) in the same step; a change that raises
  `InvalidTransition` leaves the record as it is and returns changed=False;
- `save_result` is first-writer-wins per (job, index): only the first write adds its spend
  and announces `subtask_finished`; every write returns the stored result;
- `before_subtask` returns the stored result (or None) and the job's `JobControl`, whose
  `refusal` says why the job does not own the subtask (read from the record here);
- `cancel` cancels the record and sets the cancel flag the workers read;
- `claim_gather` is first-claimant-wins (the same claimant gets True again); so is
  `claim_planning`, whose holder renews it; both lapse with the clock;
- `mark_dispatched` is True once per job until `unmark_dispatched`;
- `count_retry` counts per stage.

Records and results are stored as JSON, as in Redis, so a test sees what a reader would.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from chorus.contract.batches import BatchOutcome, BatchStatus
from chorus.contract.caching import CacheTtl, CacheUse
from chorus.contract.events import EventKind
from chorus.contract.models import (
    JobOptions,
    JobRecord,
    JobRequest,
    JobStatus,
    Plan,
    Subtask,
    SubtaskAssignment,
    SubtaskResult,
    Usage,
)
from chorus.contract.plans import PlanDraft, SubtaskDraft
from chorus.core import announcements, records
from chorus.core.ports import (
    BatchPort,
    DeltaTail,
    JobControl,
    PlanReply,
    TaskDeps,
    WorkerReply,
)
from chorus.core.prompts import Repair
from chorus.core.rates import CallCost
from chorus.errors import InvalidTransition, JobNotFound, ModelCallError
from chorus.settings import Settings
from tests.support.batch_standins import MemoryBatches
from tests.support.factories import T0

R = TypeVar("R")

# Quick, explicit settings: explicit values win over any CHORUS_* variable in the environment.
# With these a subtask can straggle for 2*3 + 4*2 + 2 + 2*1 = 18 s (`retry.straggler_wait_s`).
TEST_SETTINGS: dict[str, Any] = {
    "redis_url": "redis://127.0.0.1:1/0",  # never reached: nothing here opens a connection
    "max_attempts": 3,
    "retry_base_s": 1,
    "retry_max_s": 4,
    "model_timeout_s": 2,
    "stream_timeout_s": 2,
    "heartbeat_interval_s": 1,
    "heartbeat_ttl_s": 2,
    "rate_limit_window_s": 10,
    "orchestrator_model": "orch-model",
    "worker_model": "worker-model",
    "plan_max_tokens": 1000,
    "worker_max_tokens": 500,
}
STRAGGLER_WAIT_S = 18.0

PLAN_USAGE = Usage(input_tokens=100, output_tokens=50, cost_usd=0.001)
WORKER_USAGE = Usage(input_tokens=20, output_tokens=10, cost_usd=0.0002)
SYNTHESIS_USAGE = Usage(input_tokens=30, output_tokens=15, cost_usd=0.0003)


def make_settings(**overrides: Any) -> Settings:
    return Settings(**{**TEST_SETTINGS, **overrides})


class FakeClock:
    """A clock that stands still until told to move."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class RecordingSleep:
    """`sleep` that records each wait and moves the clock on instead of blocking."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.calls: list[float] = []
        self._clock = clock

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self._clock is not None:
            self._clock.advance(seconds)


@dataclass(frozen=True)
class Emitted:
    job_id: str
    kind: EventKind
    data: dict[str, Any]


class MemoryEvents:
    """An EventSink that keeps every event in order."""

    def __init__(self) -> None:
        self.emitted: list[Emitted] = []
        # Delta batches by (job, subtask index or None for the synthesis): (attempt, text).
        self.deltas: dict[tuple[str, int | None], list[tuple[int, str]]] = {}
        self.dropped: list[tuple[str, int | None]] = []
        self.delta_writes = 0
        self.delta_error: BaseException | None = None  # raised by every delta write when set

    def emit(self, job_id: str, kind: EventKind, **data: Any) -> None:
        self.emitted.append(Emitted(job_id, kind, dict(data)))

    def delta(
        self, job_id: str, index: int | None, attempt: int, text: str, *, fresh: bool = False
    ) -> None:
        self.delta_writes += 1
        if self.delta_error is not None:
            raise self.delta_error
        self.append_delta(job_id, index, attempt, text, fresh=fresh)

    def append_delta(
        self, job_id: str, index: int | None, attempt: int, text: str, *, fresh: bool
    ) -> None:
        """A batch stored, however it came (a write of its own, or with a result)."""
        if fresh:
            self.drop_deltas(job_id, index)
        self.deltas.setdefault((job_id, index), []).append((attempt, text))

    def drop_deltas(self, job_id: str, index: int | None) -> None:
        self.dropped.append((job_id, index))
        self.deltas.pop((job_id, index), None)

    def delta_text(self, job_id: str, index: int | None) -> str:
        return "".join(text for _, text in self.deltas.get((job_id, index), []))

    def kinds(self, job_id: str | None = None) -> list[EventKind]:
        return [e.kind for e in self.emitted if job_id is None or e.job_id == job_id]


class MemoryStore:
    """JobStorePort (plus `cancel`) in memory, with the real store's semantics."""

    def __init__(
        self, events: MemoryEvents | None = None, clock: Callable[[], datetime] = records.utc_now
    ) -> None:
        self.events = events if events is not None else MemoryEvents()
        self._clock = clock
        self._jobs: dict[str, str] = {}
        self._results: dict[str, dict[int, str]] = {}
        self.saved_for_tenants: list[str | None] = []  # the tenant of each save_result call
        self._tokens: Counter[str] = Counter()
        self._usd: dict[str, float] = {}
        self._cancelled: set[str] = set()
        self._claims: dict[str, tuple[str, datetime]] = {}
        self._planning: dict[str, tuple[str, datetime]] = {}
        self.dispatched: set[str] = set()
        self._failures: dict[str, deque[BaseException]] = {}
        self.retries: Counter[str] = Counter()
        self.created: list[str] = []
        self.claim_calls: list[tuple[str, str, float]] = []
        self._warm: dict[tuple[str, str], threading.Event] = {}
        self.warm_waits: list[tuple[str, str, float]] = []

    # -- cache warm-up signal ------------------------------------------------------------

    def _warm_event(self, job_id: str, model: str) -> threading.Event:
        return self._warm.setdefault((job_id, model), threading.Event())

    def cache_warmed(self, job_id: str, model: str) -> None:
        self._maybe_fail("cache_warmed")
        self._warm_event(job_id, model).set()

    def wait_cache_warm(self, job_id: str, model: str, timeout_s: float) -> bool:
        self.warm_waits.append((job_id, model, timeout_s))
        return self._warm_event(job_id, model).wait(timeout_s)

    # -- test controls -------------------------------------------------------------------

    def fail_next(self, method: str, *errors: BaseException) -> None:
        """Make the next calls of `method` raise these errors, one per call (a Redis blip)."""
        self._failures.setdefault(method, deque()).extend(errors)

    def _maybe_fail(self, method: str) -> None:
        queued = self._failures.get(method)
        if queued:
            raise queued.popleft()

    def put(self, record: JobRecord) -> JobRecord:
        """Store a record as it is (overwriting), for arranging a test."""
        self._jobs[record.job_id] = record.model_dump_json()
        return self.record(record.job_id)

    def record(self, job_id: str) -> JobRecord:
        raw = self._jobs.get(job_id)
        if raw is None:
            raise JobNotFound(job_id)
        return JobRecord.model_validate_json(raw)

    def control(self, job_id: str) -> JobControl:
        return JobControl(
            self._tokens[job_id], self._usd.get(job_id, 0.0), job_id in self._cancelled
        )

    def claimant(self, job_id: str) -> str | None:
        held = self._claims.get(job_id)
        return held[0] if held is not None and held[1] > self._clock() else None

    def planner(self, job_id: str) -> str | None:
        """Who holds the job's planning claim now."""
        held = self._planning.get(job_id)
        return held[0] if held is not None and held[1] > self._clock() else None

    @property
    def is_empty(self) -> bool:
        return not (self._jobs or self._results or self._tokens or self._cancelled)

    # -- JobStorePort --------------------------------------------------------------------

    def find(self, job_id: str) -> JobRecord | None:
        self._maybe_fail("find")
        return self.record(job_id) if job_id in self._jobs else None

    def create(self, record: JobRecord) -> JobRecord:
        self._maybe_fail("create")
        if record.job_id not in self._jobs:
            self._jobs[record.job_id] = record.model_dump_json()
            self.created.append(record.job_id)
        return self.record(record.job_id)

    def update(
        self, job_id: str, change: Callable[[JobRecord], JobRecord]
    ) -> tuple[JobRecord, bool]:
        self._maybe_fail("update")
        current = self.record(job_id)
        try:
            updated = change(current)
        except InvalidTransition:
            return current, False
        self._jobs[job_id] = updated.model_dump_json()
        if current.status.is_final and not updated.status.is_final and updated.runs:
            # A retry resets what `chorus.store.job_claims.queue_rerun` resets.
            for index in updated.runs[-1].subtasks:
                self._results.get(job_id, {}).pop(index, None)
            self.dispatched.discard(job_id)
            self._cancelled.discard(job_id)
            self._claims.pop(job_id, None)
        spend = records.planning_spend(current, updated)
        if spend is not None:
            self._add_spend(job_id, spend)
        announced = records.transition_event(current, updated)
        if announced is not None:
            self.events.emit(job_id, announced[0], **announced[1])
        return self.record(job_id), True

    def save_result(
        self,
        job_id: str,
        result: SubtaskResult,
        tenant: str | None = None,
        *,
        tail: DeltaTail | None = None,
    ) -> SubtaskResult:
        self._maybe_fail("save_result")
        self.saved_for_tenants.append(tenant)
        stored = self._results.setdefault(job_id, {})
        if result.index not in stored:
            if tail is not None:
                self.events.append_delta(
                    job_id, result.index, tail.attempt, tail.text, fresh=tail.fresh
                )
            stored[result.index] = result.model_dump_json()
            self._add_spend(job_id, result.usage)
            data = announcements.subtask_finished(result)
            self.events.emit(job_id, EventKind.SUBTASK_FINISHED, **data)
        return SubtaskResult.model_validate_json(stored[result.index])

    def before_subtask(self, job_id: str, index: int) -> tuple[SubtaskResult | None, JobControl]:
        self._maybe_fail("before_subtask")
        raw = self._results.get(job_id, {}).get(index)
        stored = SubtaskResult.model_validate_json(raw) if raw is not None else None
        control = self.control(job_id)
        if stored is None:
            record = self.record(job_id) if job_id in self._jobs else None
            owned = records.owned_subtasks(record) if record is not None else None
            refusal = records.subtask_refusal(job_id, index, record, owned)
            control = replace(control, refusal=refusal)
        return stored, control

    def results(self, job_id: str) -> dict[int, SubtaskResult]:
        self._maybe_fail("results")
        stored = self._results.get(job_id, {})
        return {i: SubtaskResult.model_validate_json(raw) for i, raw in stored.items()}

    def claim_gather(self, job_id: str, claimant: str, *, ttl_s: float) -> bool:
        self._maybe_fail("claim_gather")
        self.claim_calls.append((job_id, claimant, ttl_s))
        if self.claimant(job_id) is None:
            self._claims[job_id] = (claimant, self._clock() + timedelta(seconds=ttl_s))
        return self.claimant(job_id) == claimant

    def claim_planning(self, job_id: str, claimant: str, *, ttl_s: float) -> bool:
        self._maybe_fail("claim_planning")
        if self.planner(job_id) in (None, claimant):
            self._planning[job_id] = (claimant, self._clock() + timedelta(seconds=ttl_s))
        return self.planner(job_id) == claimant

    def mark_dispatched(self, job_id: str) -> bool:
        self._maybe_fail("mark_dispatched")
        first = job_id not in self.dispatched
        self.dispatched.add(job_id)
        return first

    def unmark_dispatched(self, job_id: str) -> None:
        self.dispatched.discard(job_id)

    def count_retry(self, stage: str) -> None:
        self.retries[stage] += 1

    # -- beyond the port -----------------------------------------------------------------

    def cancel(self, job_id: str) -> tuple[JobRecord, bool]:
        record, changed = self.update(job_id, lambda r: records.with_cancellation(r, self._clock()))
        if record.status is JobStatus.CANCELLED:
            self._cancelled.add(job_id)
        return record, changed

    def _add_spend(self, job_id: str, usage: Usage) -> None:
        self._tokens[job_id] += usage.total_tokens
        self._usd[job_id] = self._usd.get(job_id, 0.0) + usage.cost_usd


@dataclass(frozen=True)
class PlanCall:
    request: JobRequest
    model: str
    max_tokens: int
    feedback: str | None


@dataclass(frozen=True)
class SynthesisCall:
    task: str
    context: dict[str, Any]
    outputs: list[dict[str, str]]
    model: str
    max_tokens: int


def plan_reply(*types: str, usage: Usage = PLAN_USAGE, analysis: str = "analysis") -> PlanReply:
    """A planning reply proposing one subtask per type (none: an empty, rule-breaking plan)."""
    drafts = [SubtaskDraft(type=t, description=f"do it the {t} way") for t in types]
    return PlanReply(draft=PlanDraft(analysis=analysis, subtasks=drafts), usage=usage)


def worker_reply(
    output: str = "an answer", *, usage: Usage = WORKER_USAGE, truncated: bool = False
) -> WorkerReply:
    return WorkerReply(output=output, usage=usage, truncated=truncated)


def transient(message: str = "overloaded", retry_after_s: float | None = None) -> ModelCallError:
    return ModelCallError(message, retryable=True, status=529, retry_after_s=retry_after_s)


def permanent(message: str = "bad request") -> ModelCallError:
    return ModelCallError(message, retryable=False, status=400)


def _take(script: deque[R | BaseException], default: Callable[[], R]) -> R:
    if not script:
        return default()
    item = script.popleft()
    if isinstance(item, BaseException):
        raise item
    return item


@dataclass(frozen=True)
class CutStream:
    """A scripted streamed reply that sends `text` and then fails with `error`."""

    text: str
    error: BaseException


@dataclass(frozen=True)
class PausedStream:
    """A scripted streamed reply: `first`, then `pause_s` later in real time (the delta
    batcher's clock is the monotonic one) `rest` in pieces of 4 characters, so the batcher
    flushes at the rest's first piece and holds the others for the end."""

    first: str
    rest: str
    pause_s: float = 0.06


Scripted = WorkerReply | CutStream | PausedStream | BaseException


def _streamed(
    queue: deque[Any], default: Callable[[], WorkerReply], on_text: Callable[[str], None] | None
) -> WorkerReply:
    """The next scripted reply, its text first handed to `on_text` in pieces of 4 characters."""
    item = queue.popleft() if queue else default()
    if isinstance(item, PausedStream):
        if on_text is not None:
            on_text(item.first)
            time.sleep(item.pause_s)
            for i in range(0, len(item.rest), 4):
                on_text(item.rest[i : i + 4])
        return worker_reply(item.first + item.rest)
    if isinstance(item, CutStream):
        if on_text is not None:
            on_text(item.text)
        raise item.error
    if isinstance(item, BaseException):
        raise item
    if on_text is not None:
        for i in range(0, len(item.output), 4):
            on_text(item.output[i : i + 4])
    return cast(WorkerReply, item)


class ScriptedModel:
    """ModelPort answering each call from its queue of replies or exceptions (raised), or with
    a default derived from the input once the queue is empty. Every call is recorded;
    `before_call(method)` runs first, for a test that needs something to happen mid-call."""

    def __init__(
        self,
        *,
        plans: Iterable[PlanReply | BaseException] = (),
        subtasks: Iterable[Scripted] = (),
        syntheses: Iterable[Scripted] = (),
    ) -> None:
        self.plans: deque[PlanReply | BaseException] = deque(plans)
        self.subtasks: deque[Scripted] = deque(subtasks)
        self.syntheses: deque[Scripted] = deque(syntheses)
        self.plan_calls: list[PlanCall] = []
        self.subtask_calls: list[SubtaskAssignment] = []
        self.repairs: list[Repair | None] = []  # of every worker and synthesis call
        self.synthesis_calls: list[SynthesisCall] = []
        self.before_call: Callable[[str], None] | None = None
        # What each call was told about the prompt cache, in call order.
        self.plan_caches: list[CacheUse | None] = []
        self.subtask_ttls: list[CacheTtl | None] = []
        self.synthesis_ttls: list[CacheTtl | None] = []
        # Batch mode: params built, replies read from a batch, and the Message Batches API.
        self.batch_params: list[dict[str, Any]] = []
        self.batch_replies: list[tuple[str, dict[str, Any]]] = []
        self.created_batches: dict[str, list[dict[str, Any]]] = {}
        self.batch_create_errors: deque[BaseException] = deque()
        self.batch_status_errors: deque[BaseException] = deque()
        self.batch_ended: dict[str, bool] = {}  # by batch id; absent: ended
        self.batch_outcomes: dict[str, list[BatchOutcome]] = {}  # absent: all succeeded
        self.cancelled_batches: list[str] = []

    @property
    def calls(self) -> int:
        return len(self.plan_calls) + len(self.subtask_calls) + len(self.synthesis_calls)

    def _starting(self, method: str) -> None:
        if self.before_call is not None:
            self.before_call(method)

    def plan(
        self,
        request: JobRequest,
        *,
        model: str,
        max_tokens: int,
        feedback: str | None = None,
        cache: CacheUse | None = None,
    ) -> PlanReply:
        self.plan_calls.append(PlanCall(request, model, max_tokens, feedback))
        self.plan_caches.append(cache)
        self._starting("plan")
        count = min(2, request.options.max_subtasks)
        return _take(self.plans, lambda: plan_reply(*(f"angle-{i}" for i in range(count))))

    def run_subtask(
        self,
        assignment: SubtaskAssignment,
        repair: Repair | None = None,
        on_text: Callable[[str], None] | None = None,
        cache_ttl: CacheTtl | None = None,
    ) -> WorkerReply:
        self.subtask_calls.append(assignment)
        self.subtask_ttls.append(cache_ttl)
        self.repairs.append(repair)
        self._starting("run_subtask")
        subtask = assignment.subtask
        return _streamed(self.subtasks, lambda: worker_reply(f"{subtask.type}: done"), on_text)

    def synthesize(
        self,
        request: JobRequest,
        outputs: list[dict[str, str]],
        *,
        model: str,
        max_tokens: int,
        repair: Repair | None = None,
        on_text: Callable[[str], None] | None = None,
        cache_ttl: CacheTtl | None = None,
    ) -> WorkerReply:
        self.repairs.append(repair)
        self.synthesis_ttls.append(cache_ttl)
        call = SynthesisCall(request.task, request.context, outputs, model, max_tokens)
        self.synthesis_calls.append(call)
        self._starting("synthesize")
        combined = " | ".join(o["output"] for o in outputs)
        default = lambda: worker_reply(combined, usage=SYNTHESIS_USAGE)  # noqa: E731
        return _streamed(self.syntheses, default, on_text)

    def plan_params(
        self,
        request: JobRequest,
        *,
        model: str,
        max_tokens: int,
        feedback: str | None = None,
        cache: CacheUse | None = None,
    ) -> dict[str, Any]:
        params = {"kind": "plan", "model": model, "max_tokens": max_tokens,
                  "cache_ttl": cache.ttl if cache else None}  # fmt: skip
        self.batch_params.append(params)
        return params

    def plan_reply(
        self, request: JobRequest, message: dict[str, Any], *, max_tokens: int, batch: bool = False
    ) -> PlanReply:
        self.batch_replies.append(("plan", message))
        count = min(2, request.options.max_subtasks)
        reply = _take(self.plans, lambda: plan_reply(*(f"angle-{i}" for i in range(count))))
        return replace(reply, usage=_halved(reply.usage)) if batch else reply

    def subtask_params(
        self,
        assignment: SubtaskAssignment,
        repair: Repair | None = None,
        cache_ttl: CacheTtl | None = None,
    ) -> dict[str, Any]:
        params = {"kind": "subtask", "model": assignment.model,
                  "index": assignment.subtask.index, "cache_ttl": cache_ttl}  # fmt: skip
        self.batch_params.append(params)
        return params

    def subtask_reply(
        self, assignment: SubtaskAssignment, message: dict[str, Any], *, batch: bool = False
    ) -> WorkerReply:
        self.batch_replies.append(("subtask", message))
        subtask = assignment.subtask
        reply = _streamed(self.subtasks, lambda: worker_reply(f"{subtask.type}: done"), None)
        return replace(reply, usage=_halved(reply.usage)) if batch else reply

    def create_batch(self, requests: list[dict[str, Any]]) -> str:
        if self.batch_create_errors:
            raise self.batch_create_errors.popleft()
        batch_id = f"batch-{len(self.created_batches) + 1}"
        self.created_batches[batch_id] = requests
        return batch_id

    def batch_status(self, batch_id: str) -> BatchStatus:
        if self.batch_status_errors:
            raise self.batch_status_errors.popleft()
        ended = self.batch_ended.get(batch_id, True)
        status = "ended" if ended else "in_progress"
        return BatchStatus(batch_id=batch_id, ended=ended, processing_status=status)

    def batch_results(self, batch_id: str) -> list[BatchOutcome]:
        if batch_id in self.batch_outcomes:
            return self.batch_outcomes[batch_id]
        return [
            BatchOutcome(custom_id=r["custom_id"], result="succeeded", message={"id": "msg"})
            for r in self.created_batches[batch_id]
        ]

    def cancel_batch(self, batch_id: str) -> None:
        self.cancelled_batches.append(batch_id)


def _halved(usage: Usage) -> Usage:
    return usage.model_copy(update={"cost_usd": usage.cost_usd / 2})


class Dispatch:
    """The dispatcher run_job is given: records each record, optionally raising."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.calls: list[JobRecord] = []
        self.error = error

    def __call__(self, record: JobRecord) -> object:
        self.calls.append(record)
        if self.error is not None:
            raise self.error
        return "group-1"


class FixedLimiter:
    """A Limiter answering from scripted waits (0 once they run out), recording each ask."""

    def __init__(self, waits: Iterable[float] = ()) -> None:
        self.waits: deque[float] = deque(waits)
        self.calls: list[tuple[str, CallCost]] = []

    def try_acquire(self, model: str, cost: CallCost) -> float:
        self.calls.append((model, cost))
        return self.waits.popleft() if self.waits else 0.0


def make_deps(
    *,
    settings: Settings | None = None,
    store: MemoryStore | None = None,
    events: MemoryEvents | None = None,
    model: ScriptedModel | None = None,
    limiter: FixedLimiter | None = None,
    clock: FakeClock | None = None,
    sleep: RecordingSleep | None = None,
    batches: BatchPort | None = None,
) -> TaskDeps:
    """A TaskDeps of stand-ins; whatever is not given is a fresh one."""
    clock = clock or FakeClock()
    events = events or (store.events if store is not None else MemoryEvents())
    return TaskDeps(
        settings=settings or make_settings(),
        store=store or MemoryStore(events, clock),
        events=events,
        model=model or ScriptedModel(),
        limiter=limiter or FixedLimiter(),
        clock=clock,
        sleep=sleep or RecordingSleep(clock),
        batches=batches,
    )


@dataclass
class Rig:
    """One set of stand-ins sharing a clock and an event log, with the TaskDeps over them."""

    settings: Settings = field(default_factory=make_settings)
    clock: FakeClock = field(default_factory=FakeClock)
    events: MemoryEvents = field(default_factory=MemoryEvents)
    model: ScriptedModel = field(default_factory=ScriptedModel)
    limiter: FixedLimiter = field(default_factory=FixedLimiter)
    store: MemoryStore = field(init=False)
    sleep: RecordingSleep = field(init=False)
    batches: MemoryBatches = field(default_factory=MemoryBatches)

    def __post_init__(self) -> None:
        self.store = MemoryStore(self.events, self.clock)
        self.sleep = RecordingSleep(self.clock)

    @property
    def deps(self) -> TaskDeps:
        return make_deps(
            settings=self.settings,
            store=self.store,
            events=self.events,
            model=self.model,
            limiter=self.limiter,
            clock=self.clock,
            sleep=self.sleep,
            batches=self.batches,
        )


def make_rig(**settings: Any) -> Rig:
    return Rig(settings=make_settings(**settings))


def planned_record(
    n: int = 3,
    *,
    job_id: str = "job-1",
    options: JobOptions | None = None,
    task: str = "write a haiku",
    context: dict[str, Any] | None = None,
    now: datetime = T0,
) -> JobRecord:
    """A running record with `n` subtasks, built through the real transitions."""
    request = JobRequest(task=task, context=context or {}, options=options or JobOptions())
    record = records.new_record(
        request, job_id, orchestrator_model="orch-model", worker_model="worker-model",
        simulated=True, now=now,
    )  # fmt: skip
    plan = Plan(
        analysis="a",
        subtasks=[Subtask(index=i, type=f"t{i}", description=f"d{i}") for i in range(n)],
    )
    return records.with_plan(record, plan, PLAN_USAGE, now)
