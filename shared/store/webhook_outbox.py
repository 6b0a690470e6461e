"""The webhook outbox in Redis: a sorted set of deliveries scored by when each is due. The
job store adds to it in the transaction that ends a job (`chorus.store.transitions`); the
orchestrators' senders claim, reschedule and remove entries here."""

from __future__ import annotations

from typing import cast

import redis

from chorus.contract import names

# Take up to ARGV[3] entries due by ARGV[1] and push each to ARGV[2] in the same step, so
# the sender of another process skips what this one is delivering (until that lease ends:
# a process that dies mid-delivery leaves its entries to be claimed again).
_CLAIM_LUA = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], ARGV[2], member)
end
return due
"""


class WebhookOutbox:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._claim = client.register_script(_CLAIM_LUA)

    def claim_due(self, now: float, lease_s: float, limit: int) -> list[str]:
        """Entries due by `now`, each held for `lease_s` against other senders."""
        args: list[float | int] = [now, now + lease_s, limit]
        return [
            str(m) for m in cast(list[str], self._claim(keys=[names.WEBHOOK_OUTBOX_KEY], args=args))
        ]

    def later(self, member: str, at: float) -> None:
        """Try `member` again at `at` (only while it is still queued)."""
        self._redis.zadd(names.WEBHOOK_OUTBOX_KEY, {member: at}, xx=True)

    def done(self, member: str) -> None:
        self._redis.zrem(names.WEBHOOK_OUTBOX_KEY, member)
