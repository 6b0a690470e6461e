"""Fleet-wide rate limits in Redis, shared by every worker process on every machine.

A sliding-window log per (model, dimension): requests, input tokens and output tokens per
window. Unlike a token bucket it never lets more than the limit through in any window, which
is what the API counts. One Lua script checks every dimension and records the call only if
all of them have room, so concurrent processes cannot race past a limit.
"""

from __future__ import annotations

import time
import uuid

import redis

from chorus.contract import names
from chorus.core.rates import CallCost, RateLimit

# KEYS: one sorted set per limited dimension. ARGV: now, window, member id, then per key
# (limit, amount). Members are "<id>:<amount>" scored by time. Returns 0 when recorded,
# else the seconds to wait until enough old entries leave the window.
_ACQUIRE_LUA = """
local now, window, id = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local wait = 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[2 + i * 2])
  local amount = tonumber(ARGV[3 + i * 2])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local entries = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  local used = 0
  for j = 1, #entries, 2 do
    used = used + tonumber(string.match(entries[j], ':(%d+)$'))
  end
  if used + amount > limit then
    local excess = used + amount - limit
    for j = 1, #entries, 2 do
      excess = excess - tonumber(string.match(entries[j], ':(%d+)$'))
      if excess <= 0 then
        wait = math.max(wait, tonumber(entries[j + 1]) + window - now)
        break
      end
    end
    if excess > 0 then wait = math.max(wait, window) end
  end
end
if wait > 0 then return tostring(wait) end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, id .. ':' .. ARGV[3 + i * 2])
  redis.call('EXPIRE', key, math.ceil(window) + 1)
end
return '0'
"""


class RateLimiter:
    def __init__(
        self, client: redis.Redis, limits: dict[str, RateLimit], *, window_s: float = 60.0
    ) -> None:
        self._limits = limits
        self._window_s = window_s
        self._acquire = client.register_script(_ACQUIRE_LUA)

    def limit_for(self, model: str) -> RateLimit | None:
        return self._limits.get(model) or self._limits.get("*")

    def try_acquire(self, model: str, cost: CallCost) -> float:
        """Record the call if every limit has room and return 0; else the seconds to wait."""
        limit = self.limit_for(model)
        if limit is None:
            return 0.0
        dimensions = [
            ("requests", limit.requests, 1),
            ("input_tokens", limit.input_tokens, cost.input_tokens),
            ("output_tokens", limit.output_tokens, cost.output_tokens),
        ]
        keys: list[str] = []
        args: list[str | float] = [time.time(), self._window_s, uuid.uuid4().hex]
        for name, cap, amount in dimensions:
            if cap is None:
                continue
            # A call bigger than the whole limit could never pass: let it wait one window
            # at most, then through on its own, rather than block forever.
            keys.append(f"{names.KEY_PREFIX}:ratelimit:{model}:{name}")
            args += [cap, min(amount, cap)]
        if not keys:
            return 0.0
        return float(self._acquire(keys=keys, args=args))
