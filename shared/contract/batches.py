"""Batch mode's wire data: a request waiting for (or in) a Message Batch, and what came back.

Stored as JSON in Redis by `chorus.store.batches`; the custom_id is derived from the call it
stands for, so a redelivered or retried visit finds the same request instead of adding another.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from chorus.contract.wire import WireModel

BatchKind = Literal["plan", "subtask"]
# pending: on the pending list; taking: popped by a flush creating its batch; sent: in a batch.
ItemState = Literal["pending", "taking", "sent"]
OutcomeKind = Literal["succeeded", "errored", "expired", "canceled"]
# When the caller of `add` should schedule a flush: at once, after the window, or not at all.
FlushWhen = Literal["now", "later"] | None

CUSTOM_ID_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"


def custom_id(job_id: str, kind: BatchKind, index: int, run: int, attempt: int) -> str:
    """The request's id in its batch: the same call always gets the same one (64 chars max)."""
    digest = hashlib.sha256(f"{job_id}\x00{kind}\x00{index}\x00{run}\x00{attempt}".encode())
    return f"chorus-{kind}-{digest.hexdigest()[:40]}"


def flush_lease_s(model_timeout_s: float) -> float:
    """How long a flush may hold the requests it took before creating their batch: past this,
    a waiter finding its request still `taking` puts it back (the flush died)."""
    return 2 * model_timeout_s + 60


class BatchItem(WireModel):
    custom_id: str = Field(pattern=CUSTOM_ID_PATTERN)
    job_id: str
    kind: BatchKind
    index: int = Field(default=0, ge=0)
    run: int = Field(default=1, ge=1)
    attempt: int = Field(default=1, ge=1)
    # The `messages.create` arguments of the call.
    params: dict[str, Any]
    added_at: datetime
    state: ItemState = "pending"
    batch_id: str | None = None
    taken_at: datetime | None = None


class BatchOutcome(WireModel):
    custom_id: str
    result: OutcomeKind
    # The Message as JSON when it succeeded; else why not, as the API said.
    message: dict[str, Any] | None = None
    error: str | None = None


class BatchStatus(WireModel):
    batch_id: str
    ended: bool
    processing_status: str = ""


class BatchInfo(WireModel):
    """What a flush recorded about the batch it created, for its polls."""

    batch_id: str
    custom_ids: list[str]
    job_ids: list[str]
    cancel_requested: bool = False
