"""Two adjustments to kombu's Redis transport (5.7) that let a worker ride out a Redis restart.

1. A late-ack task that was running when the broker connection dropped finishes after the
   reconnect and acknowledges through the channel it was delivered on, which is closed by
   then: kombu raises AttributeError from `Channel._connparams`, Celery calls that
   unrecoverable and the worker stops. Here such an acknowledgement is made through a fresh
   Redis client instead: the same HDEL/ZREM kombu would have sent.
2. Kombu restores a consumer's unacknowledged messages when its channel closes, also on a lost
   connection, where the restore runs against the Redis that just went away and fails the
   same way. Chorus hands held messages back itself (`shared.redelivery`: at shutdown and when
   a process's heartbeat lapses), so the channel's own restore is switched off.

`tests/integration/test_faults.py::test_redis_restart_mid_job_loses_nothing` proves both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import kombu.transport.redis as kombu_redis
import redis

from chorus.runtime.redelivery import KOMBU_UNACKED, KOMBU_UNACKED_INDEX

log = logging.getLogger(__name__)


class _StaleChannelQoS(kombu_redis.QoS):
    client_factory: Callable[[], redis.Redis] | None = None

    def _closed(self) -> bool:
        return getattr(self.channel, "connection", None) is None

    def _ack_directly(self, delivery_tag: str) -> None:
        factory = type(self).client_factory
        if factory is None:
            raise RuntimeError("broker_compat.install() was not called")
        client = factory()
        try:
            with client.pipeline(transaction=True) as pipe:
                pipe.zrem(KOMBU_UNACKED_INDEX, delivery_tag)
                pipe.hdel(KOMBU_UNACKED, delivery_tag)
                pipe.execute()
        finally:
            client.close()
        log.info("acknowledged %s after a broker reconnect", delivery_tag)

    def ack(self, delivery_tag: str) -> None:
        if self._closed():
            self._ack_directly(delivery_tag)
            return
        super().ack(delivery_tag)  # type: ignore[no-untyped-call]

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        if self._closed():
            # Requeue or not, the message leaves `unacked`; a requeue is left to the ledger's
            # hand-back (or the visibility timeout), which both put it back on its queue.
            if not requeue:
                self._ack_directly(delivery_tag)
            return
        super().reject(delivery_tag, requeue=requeue)  # type: ignore[no-untyped-call]


def install(client_factory: Callable[[], redis.Redis]) -> None:
    """Apply both adjustments in this process (called at Celery worker start-up)."""
    _StaleChannelQoS.client_factory = client_factory
    channel: Any = kombu_redis.Channel
    channel.QoS = _StaleChannelQoS
    channel.do_restore = False
