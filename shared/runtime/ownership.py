"""Which jobs have a Celery message somewhere, and handing back deliveries nobody holds.

Every message Chorus sends names its job in the `chorus_job` header (`ChorusCelery.send_task`).
A message is always in one of two places in Redis: a queue list (waiting), or kombu's `unacked`
hash (reserved, running, or held for a retry countdown; with late acks it leaves only once
its task has finished). So a job none of whose messages is in either place has nothing in
flight that could ever finish it: that is the reconciler's signal, and it costs the hot path
nothing.

The scan runs in Redis, a chunk at a time, and returns job ids only: a backlog of large
messages (a task carries its context) never crosses the network for it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import redis

from chorus.contract import names
from chorus.runtime.redelivery import KOMBU_UNACKED, KOMBU_UNACKED_INDEX, hand_back_tags

_CHUNK = 200
# Kombu's Redis transport keeps a queue's prioritised messages in lists named
# queue + "\x06\x16" + step; Chorus sends no priorities, but a peer client might.
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)

_HEADER_PATTERN = f'"{names.JOB_HEADER}":%s*"([^"]+)"'

# Job ids named by the messages of one range of a queue list.
_SCAN_LIST_LUA = f"""
local out = {{}}
for _, raw in ipairs(redis.call('LRANGE', KEYS[1], ARGV[1], ARGV[2])) do
  local job = string.match(raw, '{_HEADER_PATTERN}')
  if job then out[#out + 1] = job end
end
return out
"""

# One HSCAN step over kombu's unacked hash: the next cursor, then the job ids found.
_SCAN_HASH_LUA = f"""
local reply = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local out = {{reply[1]}}
local pairs = reply[2]
for i = 2, #pairs, 2 do
  local job = string.match(pairs[i], '{_HEADER_PATTERN}')
  if job then out[#out + 1] = job end
end
return out
"""


class MessageScanner:
    def __init__(self, client: redis.Redis, queues: Iterable[str]) -> None:
        self._redis = client
        self._queues = tuple(queues)
        self._scan_list = client.register_script(_SCAN_LIST_LUA)
        self._scan_hash = client.register_script(_SCAN_HASH_LUA)

    def jobs_with_messages(self) -> set[str]:
        """Every job named by a queued or unacknowledged message. Queues are read before the
        unacked hash, the way messages move, so a message delivered mid-scan is still seen;
        the reconciler asks twice, a grace period apart, before it believes a job has none."""
        found: set[str] = set()
        for queue in self._lists():
            start = 0
            while True:
                chunk = self._scan_list(keys=[queue], args=[start, start + _CHUNK - 1])
                found.update(str(job) for job in chunk)
                if self._redis.llen(queue) <= start + _CHUNK:
                    break
                start += _CHUNK
        cursor = "0"
        while True:
            reply = self._scan_hash(keys=[KOMBU_UNACKED], args=[cursor, _CHUNK])
            cursor = str(reply[0])
            found.update(str(job) for job in reply[1:])
            if cursor == "0":
                return found

    def _lists(self) -> list[str]:
        candidates = [
            name
            for queue in self._queues
            for name in (queue, *(f"{queue}{_PRIORITY_SEP}{step}" for step in _PRIORITY_STEPS))
        ]
        with self._redis.pipeline(transaction=False) as pipe:
            for name in candidates:
                pipe.exists(name)
            present = pipe.execute()
        return [name for name, there in zip(candidates, present, strict=True) if there]


def hand_back_orphans(client: redis.Redis, script: object, *, older_than_s: float) -> int:
    """Requeue deliveries that sit in kombu's unacked hash longer than `older_than_s` with no
    process's ledger naming them (the ledger write was lost: Redis refused it out of memory,
    or the process died before it was sent). Nobody will ack them, and kombu would restore
    them only at the visibility timeout, an hour away."""
    cutoff = time.time() - older_than_s
    old = [str(tag) for tag in client.zrangebyscore(KOMBU_UNACKED_INDEX, "-inf", cutoff)]
    if not old:
        return 0
    instances = [str(i) for i in client.smembers(names.LEDGERS_KEY)]
    held: set[str] = set()
    with client.pipeline(transaction=False) as pipe:
        for instance in instances:
            pipe.hkeys(names.ledger_key(instance))
        for tags in pipe.execute():
            held.update(str(t) for t in tags)
    unheld = [tag for tag in old if tag not in held]
    if not unheld:
        return 0
    # Only Chorus's own messages: another app's deliveries may share this Redis database.
    entries = client.hmget(KOMBU_UNACKED, unheld)
    marker = f'"{names.JOB_HEADER}"'
    orphans = [tag for tag, raw in zip(unheld, entries, strict=True) if raw and marker in raw]
    return hand_back_tags(client, script, orphans) if orphans else 0
