"""Batch mode's collector in Redis: requests wait on a pending list until a flush sends them as
one Message Batch; what came back is kept by custom_id for the waiting task to find.

Each request is a hash (`names.batch_item_key`): its BatchItem JSON, written once (HSETNX, so
adding the same call again is harmless), and its state: `pending` (on the list), `taking`
(popped by a flush that is creating its batch) or `sent` (in batch `batch_id`). A flush that
dies between taking items and recording their batch leaves them `taking`: the waiter that finds
its item so for longer than a flush can last puts it back (`requeue`), so nothing is lost.
JSON only; the item's JSON is never rewritten by Lua (cjson would turn `{}` into `[]`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import cast

import redis

from chorus.contract import names
from chorus.contract.batches import BatchInfo, BatchItem, BatchOutcome, FlushWhen

_ITEM_PREFIX = names.batch_item_key("")

# The tail shared by add and requeue: the custom_id goes on the list; the caller schedules a
# flush now (the list is full), after the window (the first request since the last flush: the
# marker was free) or not at all (one is scheduled already).
_SCHEDULE_TAIL = """
local n = redis.call('RPUSH', KEYS[2], ARGV[1])
if n >= tonumber(ARGV[3]) then return 'now' end
if redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[4]) then return 'later' end
return 'none'
"""

# KEYS: item, pending, marker. ARGV: custom_id, (unused), max requests, marker ms, item JSON, ttl.
ADD_LUA = (
    """
if redis.call('HSETNX', KEYS[1], 'item', ARGV[5]) == 0 then return 'dup' end
redis.call('HSET', KEYS[1], 'state', 'pending')
redis.call('EXPIRE', KEYS[1], ARGV[6])
"""
    + _SCHEDULE_TAIL
)

# ARGV[2]: the taken_at the waiter saw; only that stale take is undone.
REQUEUE_LUA = (
    """
if redis.call('HGET', KEYS[1], 'state') ~= 'taking' then return 'no' end
if redis.call('HGET', KEYS[1], 'taken_at') ~= ARGV[2] then return 'no' end
redis.call('HSET', KEYS[1], 'state', 'pending')
redis.call('HDEL', KEYS[1], 'taken_at')
"""
    + _SCHEDULE_TAIL
)

# KEYS: pending, marker. ARGV: count, taken_at, item key prefix. The marker goes first, so the
# next request after this flush schedules the next one. Returns id, JSON pairs of what it took.
TAKE_LUA = """
redis.call('DEL', KEYS[2])
local ids = redis.call('LPOP', KEYS[1], ARGV[1])
local out = {}
if not ids then return out end
for _, id in ipairs(ids) do
  local key = ARGV[3] .. id
  if redis.call('HGET', key, 'state') == 'pending' then
    redis.call('HSET', key, 'state', 'taking', 'taken_at', ARGV[2])
    table.insert(out, id)
    table.insert(out, redis.call('HGET', key, 'item'))
  end
end
return out
"""

# Items a flush took but could not send go back to the front of the list, still pending.
PUT_BACK_LUA = """
for i = #ARGV, 1, -1 do
  local key = KEYS[2] .. ARGV[i]
  if redis.call('HGET', key, 'state') == 'taking' then
    redis.call('HSET', key, 'state', 'pending')
    redis.call('HDEL', key, 'taken_at')
    redis.call('LPUSH', KEYS[1], ARGV[i])
  end
end
return 1
"""

# KEYS: item, pending. A request not yet taken by a flush is removed; 1 when it was.
DROP_LUA = """
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return 0 end
redis.call('LREM', KEYS[2], 0, ARGV[1])
redis.call('DEL', KEYS[1])
return 1
"""


class BatchCollector:
    """The collector (BatchCollectorPort) over one Redis."""

    def __init__(
        self, client: redis.Redis, *, ttl_s: float, max_requests: int, window_s: float
    ) -> None:
        self._redis = client
        self._ttl_s = max(1, int(ttl_s))
        self._max = max_requests
        # The marker outlives its flush's countdown: a lost flush message is made up for by
        # the first request after the marker lapses.
        self._marker_ms = int(window_s * 2000) + 5000
        self._add = client.register_script(ADD_LUA)
        self._requeue = client.register_script(REQUEUE_LUA)
        self._take = client.register_script(TAKE_LUA)
        self._put_back = client.register_script(PUT_BACK_LUA)
        self._drop = client.register_script(DROP_LUA)

    def _keys(self, custom_id: str) -> list[str]:
        return [
            names.batch_item_key(custom_id),
            names.BATCH_PENDING_KEY,
            names.BATCH_FLUSH_MARK_KEY,
        ]

    def add(self, item: BatchItem) -> FlushWhen:
        payload = item.model_dump_json(exclude={"state", "batch_id", "taken_at"})
        args: list[str | int] = [
            item.custom_id,
            "",
            self._max,
            self._marker_ms,
            payload,
            self._ttl_s,
        ]
        return _when(self._add(keys=self._keys(item.custom_id), args=args))

    def requeue(self, custom_id: str, taken_at: datetime) -> FlushWhen:
        args: list[str | int] = [custom_id, taken_at.isoformat(), self._max, self._marker_ms]
        return _when(self._requeue(keys=self._keys(custom_id), args=args))

    def lookup(self, custom_id: str) -> tuple[BatchItem | None, BatchOutcome | None]:
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(names.batch_item_key(custom_id))
        pipe.get(names.batch_outcome_key(custom_id))
        found, raw = pipe.execute()
        fields = {
            _text(k): _text(v) for k, v in cast(dict[str | bytes, str | bytes], found).items()
        }
        outcome = BatchOutcome.model_validate_json(raw) if raw is not None else None
        if "item" not in fields:
            return None, outcome
        item = BatchItem.model_validate_json(fields["item"])
        taken = fields.get("taken_at")
        item = item.model_copy(
            update={
                "state": fields.get("state", "pending"),
                "batch_id": fields.get("batch_id") or None,
                "taken_at": datetime.fromisoformat(taken) if taken else None,
            }
        )
        return item, outcome

    def drop(self, custom_id: str) -> bool:
        keys = [names.batch_item_key(custom_id), names.BATCH_PENDING_KEY]
        return bool(self._drop(keys=keys, args=[custom_id]))

    def take(self, count: int, now: datetime) -> list[BatchItem]:
        keys = [names.BATCH_PENDING_KEY, names.BATCH_FLUSH_MARK_KEY]
        flat = self._take(keys=keys, args=[count, now.isoformat(), _ITEM_PREFIX])
        return [
            BatchItem.model_validate_json(flat[i + 1]).model_copy(
                update={"state": "taking", "taken_at": now}
            )
            for i in range(0, len(flat), 2)
        ]

    def pending_count(self) -> int:
        return int(self._redis.llen(names.BATCH_PENDING_KEY))

    def put_back(self, custom_ids: Iterable[str]) -> None:
        ids = list(custom_ids)
        if ids:
            self._put_back(keys=[names.BATCH_PENDING_KEY, _ITEM_PREFIX], args=ids)

    def mark_sent(self, info: BatchInfo) -> None:
        """Record the batch and that its items are in it (after the create succeeded)."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(names.batch_info_key(info.batch_id), info.model_dump_json(), ex=self._ttl_s)
        for custom_id in info.custom_ids:
            key = names.batch_item_key(custom_id)
            pipe.hset(key, mapping={"state": "sent", "batch_id": info.batch_id})
            pipe.hdel(key, "taken_at")
        pipe.execute()

    def batch(self, batch_id: str) -> BatchInfo | None:
        raw = self._redis.get(names.batch_info_key(batch_id))
        return BatchInfo.model_validate_json(raw) if raw is not None else None

    def save_batch(self, info: BatchInfo) -> None:
        self._redis.set(names.batch_info_key(info.batch_id), info.model_dump_json(), ex=self._ttl_s)

    def save_outcomes(self, outcomes: Iterable[BatchOutcome]) -> None:
        """Store each result by custom_id; storing the same again is harmless."""
        pipe = self._redis.pipeline(transaction=False)
        for outcome in outcomes:
            key = names.batch_outcome_key(outcome.custom_id)
            pipe.set(key, outcome.model_dump_json(), ex=self._ttl_s)
        pipe.execute()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _when(answer: bytes | str) -> FlushWhen:
    text = _text(answer)
    return "now" if text == "now" else "later" if text == "later" else None
