"""In-memory batch mode: the collector (`chorus.store.batches.BatchCollector`'s semantics) and
the BatchPort over it, which records the flushes it would schedule instead of sending them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from chorus.contract.batches import BatchInfo, BatchItem, BatchOutcome, FlushWhen


class MemoryBatchCollector:
    def __init__(self, *, max_requests: int = 1000) -> None:
        self.max_requests = max_requests
        self.items: dict[str, BatchItem] = {}
        self.pending: list[str] = []
        self.outcomes: dict[str, BatchOutcome] = {}
        self.batches: dict[str, BatchInfo] = {}
        self.marker = False

    def _schedule(self, custom_id: str) -> FlushWhen:
        self.pending.append(custom_id)
        if len(self.pending) >= self.max_requests:
            return "now"
        if not self.marker:
            self.marker = True
            return "later"
        return None

    def add(self, item: BatchItem) -> FlushWhen:
        if item.custom_id in self.items:
            return None
        self.items[item.custom_id] = item.model_copy(update={"state": "pending"})
        return self._schedule(item.custom_id)

    def requeue(self, custom_id: str, taken_at: datetime) -> FlushWhen:
        item = self.items.get(custom_id)
        if item is None or item.state != "taking" or item.taken_at != taken_at:
            return None
        self.items[custom_id] = item.model_copy(update={"state": "pending", "taken_at": None})
        return self._schedule(custom_id)

    def lookup(self, custom_id: str) -> tuple[BatchItem | None, BatchOutcome | None]:
        return self.items.get(custom_id), self.outcomes.get(custom_id)

    def drop(self, custom_id: str) -> bool:
        item = self.items.get(custom_id)
        if item is None or item.state != "pending":
            return False
        self.pending.remove(custom_id)
        del self.items[custom_id]
        return True

    def take(self, count: int, now: datetime) -> list[BatchItem]:
        self.marker = False
        ids, self.pending = self.pending[:count], self.pending[count:]
        taken = []
        for custom_id in ids:
            item = self.items.get(custom_id)
            if item is not None and item.state == "pending":
                item = item.model_copy(update={"state": "taking", "taken_at": now})
                self.items[custom_id] = item
                taken.append(item)
        return taken

    def pending_count(self) -> int:
        return len(self.pending)

    def put_back(self, custom_ids: Iterable[str]) -> None:
        for custom_id in reversed(list(custom_ids)):
            item = self.items[custom_id]
            if item.state == "taking":
                self.items[custom_id] = item.model_copy(
                    update={"state": "pending", "taken_at": None}
                )
                self.pending.insert(0, custom_id)

    def mark_sent(self, info: BatchInfo) -> None:
        self.batches[info.batch_id] = info
        for custom_id in info.custom_ids:
            item = self.items[custom_id]
            self.items[custom_id] = item.model_copy(
                update={"state": "sent", "batch_id": info.batch_id, "taken_at": None}
            )

    def batch(self, batch_id: str) -> BatchInfo | None:
        return self.batches.get(batch_id)

    def save_batch(self, info: BatchInfo) -> None:
        self.batches[info.batch_id] = info

    def save_outcomes(self, outcomes: Iterable[BatchOutcome]) -> None:
        for outcome in outcomes:
            self.outcomes[outcome.custom_id] = outcome


class MemoryBatches:
    """BatchPort over a MemoryBatchCollector; `flushes` is every flush it would schedule."""

    def __init__(self, collector: MemoryBatchCollector | None = None) -> None:
        self.collector = collector or MemoryBatchCollector()
        self.flushes: list[FlushWhen] = []

    def _scheduled(self, when: FlushWhen) -> None:
        if when is not None:
            self.flushes.append(when)

    def add(self, item: BatchItem) -> None:
        self._scheduled(self.collector.add(item))

    def requeue(self, custom_id: str, taken_at: datetime) -> None:
        self._scheduled(self.collector.requeue(custom_id, taken_at))

    def lookup(self, custom_id: str) -> tuple[BatchItem | None, BatchOutcome | None]:
        return self.collector.lookup(custom_id)

    def drop(self, custom_id: str) -> bool:
        return self.collector.drop(custom_id)
