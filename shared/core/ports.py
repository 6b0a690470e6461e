"""What task logic needs from the outside world, as protocols, and the bundle it receives.

Planning, subtask execution, gathering and synthesis take a `TaskDeps` instead of reaching
through the Celery app, so each branch is unit-tested with in-memory stand-ins
(`tests/support/standins.py`) and the Celery wrappers only translate `RetryLater`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from chorus.contract.batches import BatchInfo, BatchItem, BatchOutcome, BatchStatus, FlushWhen
from chorus.contract.caching import CacheTtl, CacheUse
from chorus.contract.events import EventKind
from chorus.contract.models import JobRecord, JobRequest, SubtaskAssignment, SubtaskResult, Usage
from chorus.contract.plans import PlanDraft
from chorus.core.profiles import Profiles
from chorus.core.prompts import Repair
from chorus.core.rates import Limiter
from chorus.core.records import utc_now
from chorus.settings import Settings


@dataclass(frozen=True)
class JobControl:
    """What a worker reads before each call: the job's spend so far and its cancel flag."""

    spent_tokens: int
    spent_usd: float
    cancelled: bool
    # Why the job takes no result for the subtask asked about (no such job, not its subtask,
    # planning or over), or None: checked before anything is called or written.
    refusal: str | None = None


@dataclass(frozen=True)
class DeltaTail:
    """The last batch of a streamed reply's text, written with its result in one round trip
    (`JobStorePort.save_result`) rather than on its own just before it. `fresh`: the call
    wrote no batch before, so the stream's older text (a killed attempt's) goes first."""

    attempt: int
    text: str
    fresh: bool


@dataclass(frozen=True)
class PlanReply:
    draft: PlanDraft
    usage: Usage


@dataclass(frozen=True)
class WorkerReply:
    output: str
    usage: Usage
    truncated: bool


class JobStorePort(Protocol):
    """The job store as task logic uses it (`chorus.store.jobs.JobStore` in production)."""

    def find(self, job_id: str) -> JobRecord | None: ...
    def create(self, record: JobRecord) -> JobRecord: ...
    def update(
        self, job_id: str, change: Callable[[JobRecord], JobRecord]
    ) -> tuple[JobRecord, bool]: ...
    # Stored, counted and announced once, by the first writer; with `tail`, that writer also
    # appends the reply's last text to the subtask's delta stream first.
    def save_result(
        self,
        job_id: str,
        result: SubtaskResult,
        tenant: str | None = None,
        *,
        tail: DeltaTail | None = None,
    ) -> SubtaskResult: ...
    def before_subtask(
        self, job_id: str, index: int
    ) -> tuple[SubtaskResult | None, JobControl]: ...
    def results(self, job_id: str) -> dict[int, SubtaskResult]: ...
    def claim_gather(self, job_id: str, claimant: str, *, ttl_s: float) -> bool: ...
    def claim_planning(self, job_id: str, claimant: str, *, ttl_s: float) -> bool: ...
    def mark_dispatched(self, job_id: str) -> bool: ...
    def unmark_dispatched(self, job_id: str) -> None: ...
    def count_retry(self, stage: str) -> None: ...
    # The cache warm-up signal of a job's calls on one model (chorus.store.cache_signals).
    def cache_warmed(self, job_id: str, model: str) -> None: ...
    def wait_cache_warm(self, job_id: str, model: str, timeout_s: float) -> bool: ...


class EventSink(Protocol):
    def emit(self, job_id: str, kind: EventKind, **data: Any) -> None: ...

    # A batch of a subtask's text as it is written (`index` None: the synthesis), in the
    # subtask's own transient delta stream; and that stream dropped when the attempt failed.
    # `fresh`: a call's first batch; the stream's older text (a killed attempt's) goes first.
    def delta(
        self, job_id: str, index: int | None, attempt: int, text: str, *, fresh: bool = False
    ) -> None: ...
    def drop_deltas(self, job_id: str, index: int | None) -> None: ...


class ModelPort(Protocol):
    """The model as task logic uses it (`chorus.llm.client.ModelClient` in production).
    Every method raises `ModelCallError`; `plan` also raises `PlanError`. Worker and synthesis
    replies are streamed: `on_text` sees each piece of text as it arrives, in order."""

    def plan(
        self,
        request: JobRequest,
        *,
        model: str,
        max_tokens: int,
        feedback: str | None = None,
        cache: CacheUse | None = None,
    ) -> PlanReply: ...
    def run_subtask(
        self,
        assignment: SubtaskAssignment,
        repair: Repair | None = None,
        on_text: Callable[[str], None] | None = None,
        cache_ttl: CacheTtl | None = None,
    ) -> WorkerReply: ...
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
    ) -> WorkerReply: ...
    # Batch mode: a call's arguments apart from sending it, its reply read from a batch's
    # Message JSON (priced at the batch price), and the Message Batches API itself.
    def plan_params(
        self,
        request: JobRequest,
        *,
        model: str,
        max_tokens: int,
        feedback: str | None = None,
        cache: CacheUse | None = None,
    ) -> dict[str, Any]: ...
    def plan_reply(
        self, request: JobRequest, message: dict[str, Any], *, max_tokens: int, batch: bool = ...
    ) -> PlanReply: ...
    def subtask_params(
        self,
        assignment: SubtaskAssignment,
        repair: Repair | None = None,
        cache_ttl: CacheTtl | None = None,
    ) -> dict[str, Any]: ...
    def subtask_reply(
        self, assignment: SubtaskAssignment, message: dict[str, Any], *, batch: bool = ...
    ) -> WorkerReply: ...
    def create_batch(self, requests: list[dict[str, Any]]) -> str: ...
    def batch_status(self, batch_id: str) -> BatchStatus: ...
    def batch_results(self, batch_id: str) -> list[BatchOutcome]: ...
    def cancel_batch(self, batch_id: str) -> None: ...


class BatchCollectorPort(Protocol):
    """Batch mode's collector (`chorus.store.batches.BatchCollector` in production)."""

    def add(self, item: BatchItem) -> FlushWhen: ...
    def requeue(self, custom_id: str, taken_at: datetime) -> FlushWhen: ...
    def lookup(self, custom_id: str) -> tuple[BatchItem | None, BatchOutcome | None]: ...
    def drop(self, custom_id: str) -> bool: ...
    def take(self, count: int, now: datetime) -> list[BatchItem]: ...
    def pending_count(self) -> int: ...
    def put_back(self, custom_ids: Iterable[str]) -> None: ...
    def mark_sent(self, info: BatchInfo) -> None: ...
    def batch(self, batch_id: str) -> BatchInfo | None: ...
    def save_batch(self, info: BatchInfo) -> None: ...
    def save_outcomes(self, outcomes: Iterable[BatchOutcome]) -> None: ...


class BatchPort(Protocol):
    """What a waiting task needs of batch mode (`chorus.runtime.batches.CeleryBatches`):
    `add` and `requeue` also schedule the flush they call for."""

    def add(self, item: BatchItem) -> None: ...
    def requeue(self, custom_id: str, taken_at: datetime) -> None: ...
    def lookup(self, custom_id: str) -> tuple[BatchItem | None, BatchOutcome | None]: ...
    def drop(self, custom_id: str) -> bool: ...


@dataclass(frozen=True)
class TaskDeps:
    settings: Settings
    store: JobStorePort
    events: EventSink
    model: ModelPort
    limiter: Limiter
    profiles: Profiles = field(default_factory=lambda: Profiles({}))
    clock: Callable[[], datetime] = field(default=utc_now)
    sleep: Callable[[float], None] = field(default=time.sleep)
    # Batch mode's collector; None: batch jobs' calls are made directly.
    batches: BatchPort | None = None
