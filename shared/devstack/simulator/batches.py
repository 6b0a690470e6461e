"""The Message Batches API's bookkeeping, on an injectable wall clock (pure: no HTTP here).

How the simulator plays a batch (batch_api.py serves it):
- Time: request i of a batch is done at `created_at + delay_s * (1 + jitter_i)`, the jitter
  under 20% and drawn from (config seed, batch number since the last reset, i), so a run
  repeats. The batch ends when its last request is done. As the real API says, the request
  counts show every request `processing` until the batch ends, then the final tallies.
- Running: a request "runs" (through the fault plan, the reply and cache logic of
  `POST /v1/messages`, and the stats and `/_simulator/requests`, with a `batch` key) the
  first time the batch is looked at (retrieve, list, results, cancel) after its time came, in
  completion order. A request whose params the Messages API would refuse ends `errored` with
  that error, without failing the batch; a fault rule with a `status` makes it `errored` with
  that status's error type; a `body` rule replaces its text; transport faults (raw_body,
  trickle, cut or error mid-stream) do not apply to batches.
- Cancel: the batch is `canceling` for 10% of the delay, then `ended`; every request not done
  when the cancel came is `canceled`. Cancelling an ended or canceling batch changes nothing.
- Expiry: a batch still processing `expire_after_s` after its creation (config
  `batch_expire_after_s`; None keeps the real API's 24 hours, which `expires_at` shows) ends
  then, its requests not yet done `expired`. Delay and expiry are read when a batch is created.
- Results: JSON Lines in completion order, not request order (the real API promises no order).
- Memory only: `/_simulator/reset` forgets every batch and restores the configured delay.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chorus.devstack.simulator.config import SimulatorConfig
from chorus.devstack.simulator.validation import (
    MessagesRequest,
    Refusal,
    json_object,
    validate_request,
)

MAX_REQUESTS = 100_000
DAY_S = 24 * 3600.0
JITTER = 0.2  # of the delay, at most
CANCEL_GRACE = 0.1  # of the delay: how long a cancelled batch stays `canceling`
CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
COUNT_KINDS = ("processing", "succeeded", "errored", "canceled", "expired")

Parsed = MessagesRequest | Refusal


class BatchesUpdate(BaseModel):
    """PUT /_simulator/batches: a field left out keeps its value; `expire_after_s: null`
    restores the 24-hour expiry."""

    model_config = ConfigDict(extra="forbid")
    delay_s: float | None = Field(default=None, ge=0)
    expire_after_s: float | None = Field(default=None, gt=0)


def rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def _bad(message: str) -> Refusal:
    return Refusal(400, "invalid_request_error", message)


def _request_problem(where: str, item: Any, seen: set[str]) -> str | None:
    if not isinstance(item, dict):
        return f"{where}: Input should be an object"
    for name in ("custom_id", "params"):
        if name not in item:
            return f"{where}.{name}: Field required"
    for name in item:
        if name not in ("custom_id", "params"):
            return f"{where}.{name}: Extra inputs are not permitted"
    custom_id, params = item["custom_id"], item["params"]
    if not isinstance(custom_id, str) or not CUSTOM_ID.match(custom_id):
        return f"{where}.custom_id: String should match pattern '{CUSTOM_ID.pattern}'"
    if custom_id in seen:
        return f"{where}.custom_id: custom_id {custom_id!r} is used by more than one request"
    if not isinstance(params, dict):
        return f"{where}.params: Input should be an object"
    if params.get("stream") is True:
        return f"{where}.params.stream: streaming is not supported for batch requests"
    return None


def parse_batch(body: bytes, config: SimulatorConfig) -> list[tuple[str, Parsed]] | Refusal:
    """Each request's custom_id and its params checked as `POST /v1/messages` checks them,
    or why the whole batch is refused (the real API's shape problems, `stream: true`)."""
    data = json_object(body)
    if isinstance(data, Refusal):
        return data
    for name in data:
        if name != "requests":
            return _bad(f"{name}: Extra inputs are not permitted")
    items = data.get("requests")
    if not isinstance(items, list):
        wrong = "Field required" if items is None else "Input should be a valid list"
        return _bad(f"requests: {wrong}")
    if not 1 <= len(items) <= MAX_REQUESTS:
        bound = "at least 1 item" if not items else f"at most {MAX_REQUESTS} items"
        return _bad(f"requests: List should have {bound} after validation, not {len(items)}")
    seen: set[str] = set()
    parsed: list[tuple[str, Parsed]] = []
    for i, item in enumerate(items):
        problem = _request_problem(f"requests.{i}", item, seen)
        if problem:
            return _bad(problem)
        seen.add(item["custom_id"])
        params = json.dumps(item["params"]).encode()
        parsed.append((item["custom_id"], validate_request(params, config)))
    return parsed


@dataclass
class BatchRequest:
    custom_id: str
    parsed: Parsed
    done_at: float
    result: dict[str, Any] | None = None  # once it ran: its succeeded or errored result


@dataclass
class Batch:
    id: str
    created_at: float
    expires_at: float
    grace_s: float
    requests: list[BatchRequest]
    cancel_at: float | None = None

    @property
    def cutoff(self) -> float:
        """Requests done later than this never run: they are canceled or expired."""
        return self.expires_at if self.cancel_at is None else min(self.expires_at, self.cancel_at)

    @property
    def ended_at(self) -> float:
        last = max(r.done_at for r in self.requests)
        if last <= self.cutoff:
            return last
        if self.cancel_at is not None:
            return min(self.cancel_at + self.grace_s, self.expires_at)
        return self.expires_at

    def status(self, now: float) -> str:
        if now >= self.ended_at:
            return "ended"
        return "canceling" if self.cancel_at is not None else "in_progress"

    def due(self, now: float) -> list[BatchRequest]:
        """Requests whose time has come that have not run yet, in the order they finish."""
        limit = min(now, self.cutoff)
        waiting = [r for r in self.requests if r.result is None and r.done_at <= limit]
        return sorted(waiting, key=lambda r: r.done_at)

    def result(self, request: BatchRequest) -> dict[str, Any]:
        """A request's result once the batch has ended and its due requests have run."""
        if request.result is not None:
            return request.result
        return {"type": "canceled" if self.cancel_at is not None else "expired"}

    def counts(self, now: float) -> dict[str, int]:
        tally = dict.fromkeys(COUNT_KINDS, 0)
        if self.status(now) != "ended":
            tally["processing"] = len(self.requests)
            return tally
        for request in self.requests:
            tally[self.result(request)["type"]] += 1
        return tally

    def view(self, now: float, base_url: str) -> dict[str, Any]:
        """The MessageBatch object; `base_url` (the caller's) makes results_url absolute."""
        ended = self.status(now) == "ended"
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.status(now),
            "request_counts": self.counts(now),
            "created_at": rfc3339(self.created_at),
            "expires_at": rfc3339(self.expires_at),
            "ended_at": rfc3339(self.ended_at) if ended else None,
            "cancel_initiated_at": rfc3339(self.cancel_at) if self.cancel_at else None,
            "archived_at": None,
            "results_url": f"{base_url}/v1/messages/batches/{self.id}/results" if ended else None,
        }

    def results_jsonl(self) -> bytes:
        finished = sorted(self.requests, key=lambda r: r.done_at)
        lines = (
            json.dumps({"custom_id": r.custom_id, "result": self.result(r)}) + "\n"
            for r in finished
        )
        return "".join(lines).encode()


class BatchBook:
    """Every batch since the last reset, oldest first, and the delay and expiry in force."""

    def __init__(self, config: SimulatorConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.delay_s = config.batch_delay_s
        self.expire_after_s = config.batch_expire_after_s
        self.batches: dict[str, Batch] = {}
        self.requests_total = 0

    def update(self, update: BatchesUpdate) -> None:
        if update.delay_s is not None:
            self.delay_s = update.delay_s
        if "expire_after_s" in update.model_fields_set:
            self.expire_after_s = update.expire_after_s

    def _jitter(self, batch_number: int, index: int) -> float:
        seed = f"{self.config.seed}:{batch_number}:{index}".encode()
        draw = int.from_bytes(hashlib.sha256(seed).digest()[:8], "big") / 2**64
        return JITTER * draw

    def create(self, parsed: list[tuple[str, Parsed]]) -> Batch:
        now = self.clock()
        number = len(self.batches)
        requests = [
            BatchRequest(custom_id, item, now + self.delay_s * (1 + self._jitter(number, i)))
            for i, (custom_id, item) in enumerate(parsed)
        ]
        expiry = DAY_S if self.expire_after_s is None else self.expire_after_s
        batch = Batch(
            id="msgbatch_" + uuid.uuid4().hex[:24],
            created_at=now,
            expires_at=now + expiry,
            grace_s=CANCEL_GRACE * self.delay_s,
            requests=requests,
        )
        self.batches[batch.id] = batch
        self.requests_total += len(requests)
        return batch

    def cancel(self, batch: Batch) -> None:
        now = self.clock()
        if batch.status(now) == "in_progress":
            batch.cancel_at = now

    def page(
        self, limit: int, after_id: str | None, before_id: str | None
    ) -> tuple[list[Batch], bool] | Refusal:
        """A page of batches, newest first as the real API lists them, and whether more lie
        beyond it (past `after_id`, or before `before_id` when that is given)."""
        if not 1 <= limit <= 1000:
            return _bad(f"limit: Input should be between 1 and 1000, not {limit}")
        newest = list(reversed(self.batches.values()))
        ids = [b.id for b in newest]
        cursor = after_id or before_id
        if cursor is not None and cursor not in self.batches:
            return _bad(f"{'after_id' if after_id else 'before_id'}: no batch {cursor!r}")
        if after_id is not None:
            start = ids.index(after_id) + 1
            return newest[start : start + limit], start + limit < len(newest)
        if before_id is not None:
            end = ids.index(before_id)
            start = max(0, end - limit)
            return newest[start:end], start > 0
        return newest[:limit], limit < len(newest)

    def stats(self) -> dict[str, int]:
        return {"batches_created": len(self.batches), "batch_requests": self.requests_total}
