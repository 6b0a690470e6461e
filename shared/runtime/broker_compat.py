"""Three adjustments to kombu's Redis transport (5.7): two let a worker ride out a Redis
restart, one saves CPU on every message.

1. A late-ack task that was running when the broker connection dropped finishes after the
   reconnect and acknowledges through the channel it was delivered on, which is closed by
   then: kombu raises AttributeError from `Channel._connparams`, Celery calls that
   unrecoverable and the worker stops. Here such an acknowledgement is made through a fresh
   Redis client instead: the same HDEL/ZREM kombu would have sent.
2. Kombu restores a consumer's unacknowledged messages when its channel closes, also on a lost
   connection, where the restore runs against the Redis that just went away and fails the
   same way. Chorus hands held messages back itself (`shared.redelivery`: at shutdown and when
   a process's heartbeat lapses), so the channel's own restore is switched off.
3. Kombu builds a new `redis.Redis` for each acknowledgement, event and publish that has no
   client at hand (`Channel.conn_or_acquire`), and redis-py 8 spends about 0.2 ms building one;
   several per task. A channel keeps one instead: a client is thread-safe (each command takes
   a connection from the channel's pool), and a new channel after a reconnect makes its own.

`tests/integration/test_faults.py::test_redis_restart_mid_job_loses_nothing` proves 1 and 2;
`tests/unit/runtime/test_broker_compat.py` shows 3.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


@contextmanager
def _channel_client(channel: Any, client: Any = None) -> Iterator[Any]:
    """`Channel.conn_or_acquire`, with the channel's one client when none is given."""
    if client:
        yield client
        return
    kept = channel.__dict__.get(_KEPT)
    if kept is None:  # two threads may both build one: one is kept, nothing is lost
        kept = channel.__dict__[_KEPT] = channel._create_client()
    yield kept


_KEPT = "_chorus_client"


def install(client_factory: Callable[[], redis.Redis]) -> None:
    """Apply the adjustments in this process (called at Celery worker start-up)."""
    _StaleChannelQoS.client_factory = client_factory
    channel: Any = kombu_redis.Channel
    channel.QoS = _StaleChannelQoS
    channel.do_restore = False
    channel.conn_or_acquire = _channel_client
