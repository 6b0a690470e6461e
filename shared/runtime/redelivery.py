"""Handing back the messages a dead or stopping worker held, in seconds rather than at the
visibility timeout.

Kombu's Redis transport keeps every delivered, unacknowledged (late-ack) message in the
`unacked` hash and puts it back only after `visibility_timeout`, which must outlast the slowest
model call: an hour by default. So each Chorus process also keeps a ledger of the deliveries it
holds and a heartbeat key. When a heartbeat lapses (the process was SIGKILLed, its machine
died), any live process moves that ledger's messages from `unacked` back to their queues, with
the same Lua step kombu's own restore performs. A process that was only slow may then see its
message run twice: subtasks are idempotent (the first stored result wins), so a late duplicate
costs a repeated call, never a second result.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

import redis

from chorus.contract import names

log = logging.getLogger(__name__)

# Kombu's names for its Redis bookkeeping (kombu.transport.redis.Channel defaults).
KOMBU_UNACKED = "unacked"
KOMBU_UNACKED_INDEX = "unacked_index"

# Move each delivery tag in ARGV from kombu's unacked hash back onto its queue, under a fresh
# tag. A tag already acknowledged (or restored by someone else) is no longer in the hash and is
# skipped, so two processes reaping the same ledger never requeue a message twice. The fresh
# tag is what makes that hold: kombu keeps a message's publish-time tag, so the copy handed
# back would otherwise re-enter unacked under the old tag when taken, where a late reaper
# would move it again and a slow worker's late ack of its old copy would delete it.
_HAND_BACK_LUA = """
local moved = 0
local sep = "\\006\\022"
for i = 1, #ARGV do
  local tag = ARGV[i]
  local raw = redis.call('HGET', KEYS[1], tag)
  if raw then
    -- The entry is kombu's JSON [payload, exchange, routing_key]. The payload goes back
    -- byte for byte: re-encoding it here could turn an empty list into an empty object.
    local entry = cjson.decode(raw)
    local exchange, routing_key = entry[2], entry[3]
    local suffix = ', ' .. cjson.encode(exchange) .. ', ' .. cjson.encode(routing_key) .. ']'
    local body
    if string.sub(raw, -#suffix) == suffix then
      body = string.sub(raw, 2, #raw - #suffix)
    else
      body = cjson.encode(entry[1])
    end
    local queues = {}
    for _, member in ipairs(redis.call('SMEMBERS', '_kombu.binding.' .. exchange)) do
      local a = string.find(member, sep, 1, true)
      local rest = string.sub(member, a + 2)
      local b = string.find(rest, sep, 1, true)
      if string.sub(member, 1, a - 1) == routing_key then
        table.insert(queues, string.sub(rest, b + 2))
      end
    end
    if #queues == 0 then table.insert(queues, routing_key) end
    redis.call('HDEL', KEYS[1], tag)
    redis.call('ZREM', KEYS[2], tag)
    -- The tag is a uuid in the payload's properties: replaced as text, so nothing else in
    -- the payload is re-encoded.
    local at = string.find(body, '"' .. tag .. '"', 1, true)
    if at then
      local first = string.match(tag, '^[^.]+')
      local fresh = first .. '.' .. redis.call('INCR', KEYS[3])
      body = string.sub(body, 1, at) .. fresh .. string.sub(body, at + 1 + #tag)
    end
    for _, queue in ipairs(queues) do
      -- Consumers pop from the right: a handed-back message is the next one served.
      redis.call('RPUSH', queue, body)
    end
    moved = moved + 1
  end
end
return moved
"""


class DeliveryLedger:
    """One process's record of the deliveries it holds, plus its heartbeat.

    The ledger is a hash `delivery tag -> task id`, written by kombu's own bookkeeping in this
    process (`chorus.runtime.broker_compat.keep_ledger(ledger.key)`): an entry goes in with
    the delivery's `unacked` entry and leaves with it, in the same transaction."""

    def __init__(self, client: redis.Redis, node: str, *, heartbeat_ttl_s: float) -> None:
        self._redis = client
        # One identity per process: a restarted container reuses its hostname, and must not
        # inherit (and so never hand back) what its killed predecessor held.
        self.instance = f"{node}/{uuid.uuid4().hex[:8]}"
        self.key = names.ledger_key(self.instance)
        self._ttl_ms = int(heartbeat_ttl_s * 1000)
        self._hand_back = hand_back_script(client)

    def beat(self) -> None:
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(names.heartbeat_key(self.instance), "1", px=self._ttl_ms)
            pipe.sadd(names.LEDGERS_KEY, self.instance)
            pipe.execute()

    def hand_back_own(self) -> int:
        """Requeue everything this process holds (it is about to exit without finishing)."""
        return hand_back(self._redis, self._hand_back, self.instance)

    def retire(self) -> None:
        """A clean exit: nothing is held any more."""
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.delete(names.ledger_key(self.instance), names.heartbeat_key(self.instance))
            pipe.srem(names.LEDGERS_KEY, self.instance)
            pipe.execute()

    def reap_dead(self) -> dict[str, int]:
        """Hand back the deliveries of every process whose heartbeat has lapsed."""
        moved: dict[str, int] = {}
        others = [str(i) for i in self._redis.smembers(names.LEDGERS_KEY) if i != self.instance]
        if not others:
            return moved
        # One round trip for every heartbeat: this runs in every process at every beat.
        with self._redis.pipeline(transaction=False) as pipe:
            for name in others:
                pipe.exists(names.heartbeat_key(name))
            alive = pipe.execute()
        for name, beating in zip(others, alive, strict=True):
            if beating:
                continue
            count = hand_back(self._redis, self._hand_back, name)
            self._redis.srem(names.LEDGERS_KEY, name)
            if count:
                moved[name] = count
        return moved


def hand_back(client: redis.Redis, script: object, instance: str) -> int:
    key = names.ledger_key(instance)
    moved = hand_back_tags(client, script, [str(t) for t in client.hkeys(key)])
    client.delete(key)
    return moved


def hand_back_script(client: redis.Redis) -> object:
    return client.register_script(_HAND_BACK_LUA)


def hand_back_tags(client: redis.Redis, script: object, tags: list[str]) -> int:
    """Move these deliveries from kombu's unacked hash back onto their queues (a tag no longer
    there was acknowledged or handed back already, and is skipped)."""
    moved = 0
    for start in range(0, len(tags), 200):
        batch = tags[start : start + 200]
        keys = [KOMBU_UNACKED, KOMBU_UNACKED_INDEX, names.HANDBACK_SEQ_KEY]
        moved += int(script(keys=keys, args=batch))  # type: ignore[operator]
    return moved


class HeartbeatThread(threading.Thread):
    """Beats for this process and reaps dead ones, until the process exits.

    A heartbeat that lapsed while Redis itself was away says nothing about its process: every
    process missed its beats alike. So when this process's own beats stopped long enough for a
    peer's key to lapse (Redis away, or this process stalled), it reaps nobody until its peers
    have had a whole TTL of reachable Redis to beat again; otherwise the first process back
    would hand back everything its live peers hold, and their calls would be made twice."""

    def __init__(
        self,
        ledger: DeliveryLedger,
        *,
        interval_s: float,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name="chorus-heartbeat", daemon=True)
        self._ledger = ledger
        self._clock = clock
        self._interval_s = interval_s
        self._ttl_s = ttl_s
        self._stop = threading.Event()
        self._last_beat = float("-inf")  # a process starting up may be back from an outage
        self._reap_from = 0.0

    def run(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self._interval_s)

    def tick(self) -> None:
        try:
            self._ledger.beat()
            now = self._clock()
            # A peer beating every interval has its key set within one interval of our last
            # beat: past this gap, some peer's key may have lapsed without the peer dying.
            if now - self._last_beat > self._ttl_s - 2 * self._interval_s:
                self._reap_from = now + self._ttl_s
            self._last_beat = now
            if now >= self._reap_from:
                for instance, count in self._ledger.reap_dead().items():
                    log.warning("handed back %d message(s) held by dead %s", count, instance)
        except redis.RedisError as exc:
            # Redis is away; the broker connection reports it too. Try again next beat.
            log.warning("heartbeat failed: %s", type(exc).__name__)

    def stop(self) -> None:
        self._stop.set()
