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

from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

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
from chorus.core import records
from chorus.core.ports import JobControl, PlanReply, TaskDeps, WorkerReply
from chorus.core.prompts import Repair
from chorus.core.rates import CallCost
from chorus.errors import InvalidTransition, JobNotFound, ModelCallError
from chorus.settings import Settings
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

    def emit(self, job_id: str, kind: EventKind, **data: Any) -> None:
        self.emitted.append(Emitted(job_id, kind, dict(data)))

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
        spend = records.planning_spend(current, updated)
        if spend is not None:
            self._add_spend(job_id, spend)
        announced = records.transition_event(current, updated)
        if announced is not None:
            self.events.emit(job_id, announced[0], **announced[1])
        return self.record(job_id), True

    def save_result(self, job_id: str, result: SubtaskResult) -> SubtaskResult:
        self._maybe_fail("save_result")
        stored = self._results.setdefault(job_id, {})
        if result.index not in stored:
            stored[result.index] = result.model_dump_json()
            self._add_spend(job_id, result.usage)
            self.events.emit(
                job_id,
                EventKind.SUBTASK_FINISHED,
                index=result.index,
                type=result.type,
                status=result.status.value,
            )
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


class ScriptedModel:
    """ModelPort answering each call from its queue of replies or exceptions (raised), or with
    a default derived from the input once the queue is empty. Every call is recorded;
    `before_call(method)` runs first, for a test that needs something to happen mid-call."""

    def __init__(
        self,
        *,
        plans: Iterable[PlanReply | BaseException] = (),
        subtasks: Iterable[WorkerReply | BaseException] = (),
        syntheses: Iterable[WorkerReply | BaseException] = (),
    ) -> None:
        self.plans: deque[PlanReply | BaseException] = deque(plans)
        self.subtasks: deque[WorkerReply | BaseException] = deque(subtasks)
        self.syntheses: deque[WorkerReply | BaseException] = deque(syntheses)
        self.plan_calls: list[PlanCall] = []
        self.subtask_calls: list[SubtaskAssignment] = []
        self.repairs: list[Repair | None] = []  # of every worker and synthesis call
        self.synthesis_calls: list[SynthesisCall] = []
        self.before_call: Callable[[str], None] | None = None

    @property
    def calls(self) -> int:
        return len(self.plan_calls) + len(self.subtask_calls) + len(self.synthesis_calls)

    def _starting(self, method: str) -> None:
        if self.before_call is not None:
            self.before_call(method)

    def plan(
        self, request: JobRequest, *, model: str, max_tokens: int, feedback: str | None = None
    ) -> PlanReply:
        self.plan_calls.append(PlanCall(request, model, max_tokens, feedback))
        self._starting("plan")
        count = min(2, request.options.max_subtasks)
        return _take(self.plans, lambda: plan_reply(*(f"angle-{i}" for i in range(count))))

    def run_subtask(
        self, assignment: SubtaskAssignment, repair: Repair | None = None
    ) -> WorkerReply:
        self.subtask_calls.append(assignment)
        self.repairs.append(repair)
        self._starting("run_subtask")
        subtask = assignment.subtask
        return _take(self.subtasks, lambda: worker_reply(f"{subtask.type}: done"))

    def synthesize(
        self,
        request: JobRequest,
        outputs: list[dict[str, str]],
        *,
        model: str,
        max_tokens: int,
        repair: Repair | None = None,
    ) -> WorkerReply:
        self.repairs.append(repair)
        call = SynthesisCall(request.task, request.context, outputs, model, max_tokens)
        self.synthesis_calls.append(call)
        self._starting("synthesize")
        combined = " | ".join(o["output"] for o in outputs)
        return _take(self.syntheses, lambda: worker_reply(combined, usage=SYNTHESIS_USAGE))


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
