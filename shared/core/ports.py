"""What task logic needs from the outside world, as protocols, and the bundle it receives.

Planning, subtask execution, gathering and synthesis take a `TaskDeps` instead of reaching
through the Celery app, so each branch is unit-tested with in-memory stand-ins
(`tests/support/standins.py`) and the Celery wrappers only translate `RetryLater`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

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
    def save_result(self, job_id: str, result: SubtaskResult) -> SubtaskResult: ...
    def before_subtask(
        self, job_id: str, index: int
    ) -> tuple[SubtaskResult | None, JobControl]: ...
    def results(self, job_id: str) -> dict[int, SubtaskResult]: ...
    def claim_gather(self, job_id: str, claimant: str, *, ttl_s: float) -> bool: ...
    def claim_planning(self, job_id: str, claimant: str, *, ttl_s: float) -> bool: ...
    def mark_dispatched(self, job_id: str) -> bool: ...
    def unmark_dispatched(self, job_id: str) -> None: ...
    def count_retry(self, stage: str) -> None: ...


class EventSink(Protocol):
    def emit(self, job_id: str, kind: EventKind, **data: Any) -> None: ...


class ModelPort(Protocol):
    """The model as task logic uses it (`chorus.llm.client.ModelClient` in production).
    Every method raises `ModelCallError`; `plan` also raises `PlanError`."""

    def plan(
        self, request: JobRequest, *, model: str, max_tokens: int, feedback: str | None = None
    ) -> PlanReply: ...
    def run_subtask(
        self, assignment: SubtaskAssignment, repair: Repair | None = None
    ) -> WorkerReply: ...
    def synthesize(
        self,
        request: JobRequest,
        outputs: list[dict[str, str]],
        *,
        model: str,
        max_tokens: int,
        repair: Repair | None = None,
    ) -> WorkerReply: ...


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
