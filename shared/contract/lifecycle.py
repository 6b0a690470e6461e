"""What a job's record keeps about its life beyond one run: each run (the first and every
retry of what failed), the reviewer's decision on its plan, and each webhook delivery."""

from datetime import datetime
from typing import Literal

from pydantic import Field

from chorus.contract.states import Budget, JobStatus, Usage
from chorus.contract.wire import WireModel


class JobRun(WireModel):
    """One run of a job: run 1 is the first; each `POST /v1/jobs/{id}/retry` adds one."""

    run: int = Field(ge=1)
    started_at: datetime
    finished_at: datetime | None = None
    # How the run ended (None while it runs).
    status: JobStatus | None = None
    # The subtask indices this run ran (a retry: those that had failed or been skipped).
    subtasks: list[int] = Field(default_factory=list)
    # The limits this run was held to, when a retry raised them.
    budget: Budget | None = None
    # The caller's Idempotency-Key for a retry: the same key again answers with this run.
    idempotency_key: str | None = None
    # What this run's synthesis call cost (the record's `synthesis_usage` is the last run's).
    synthesis_usage: Usage = Field(default_factory=Usage)


class ReviewDecision(WireModel):
    """How a reviewer (or the review timeout) answered a plan awaiting review."""

    decision: Literal["approved", "edited", "rejected", "timed_out"]
    at: datetime
    reason: str | None = None


class WebhookDelivery(WireModel):
    """One attempt to POST the job's webhook."""

    attempt: int = Field(ge=1)
    at: datetime
    # What the delivery announced: the job's final status, or `awaiting_review`.
    event: str
    # The receiver's HTTP status, or None when no answer came (then `error` says why).
    status_code: int | None = None
    error: str | None = None
    delivered: bool = False
