"""The cache warm-up signal: the worker call warming a job's cache entry on a model says
when its first token arrives; the job's other calls on that model wait for it
(`chorus.core.caching`). One short stream per (job, model): a waiter's XREAD returns at once
if the signal is there, else blocks until it is added, so any number wait in one round trip.
"""

from __future__ import annotations

import time

import redis

from chorus.contract import limits, names

# Below the client's socket timeout, so a long wait is a few reads rather than a dead socket.
_BLOCK_SLICE_S = limits.REDIS_SOCKET_TIMEOUT_S - 5


class CacheSignals:
    _redis: redis.Redis

    def cache_warmed(self, job_id: str, model: str) -> None:
        """Say the entry is usable (or that nobody should wait for it any longer)."""
        key = names.job_cache_warm_key(job_id, model)
        pipe = self._redis.pipeline(transaction=False)
        pipe.xadd(key, {"at": f"{time.time():.3f}"}, maxlen=1)
        # Outlives the entry it announces (at most an hour), then goes.
        pipe.expire(key, int(limits.CACHE_SIGNAL_TTL_S))
        pipe.execute()

    def wait_cache_warm(self, job_id: str, model: str, timeout_s: float) -> bool:
        """True once the signal is there; False when `timeout_s` passes first."""
        key = names.job_cache_warm_key(job_id, model)
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            block_ms = int(min(max(left, 0.0), _BLOCK_SLICE_S) * 1000)
            if block_ms <= 0:
                return bool(self._redis.xlen(key))
            if self._redis.xread({key: "0"}, count=1, block=block_ms):
                return True
