"""Four adjustments to kombu's Redis transport (5.7): two let a worker ride out a Redis
restart, two save CPU on every message.

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

4. The process's delivery ledger (`chorus.runtime.redelivery`) is written in the same
   transaction as kombu's `unacked` bookkeeping: the tag goes in with the delivery and leaves
   with the ack, reject or restore. Nothing in `unacked` is ever missing from its holder's
   ledger, and no thread of its own sends the ledger's writes (that thread was 7-9% of a busy
   worker's CPU).

`tests/fault/test_faults.py::test_redis_down_while_model_calls_end_their_results_are_saved_once_it_is_back`
proves 1 and 2;
`tests/unit/runtime/test_broker_compat.py` shows 3, `tests/integration/test_delivery_ledger.py`
shows 4.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import kombu.transport.redis as kombu_redis
import redis
from kombu.transport import virtual
from kombu.utils.json import dumps

log = logging.getLogger(__name__)


class _StaleChannelQoS(kombu_redis.QoS):
    client_factory: Callable[[], redis.Redis] | None = None
    # This process's delivery ledger (`DeliveryLedger.key`); None: a process that keeps none.
    ledger_key: str | None = None

    def append(self, message: Any, delivery_tag: str) -> None:
        key = type(self).ledger_key
        if key is None:
            super().append(message, delivery_tag)  # type: ignore[no-untyped-call]
            return
        # kombu's append (5.7), with the ledger's entry in the same transaction.
        delivery = message.delivery_info
        raw = dumps([message._raw, delivery["exchange"], delivery["routing_key"]])  # type: ignore[no-untyped-call]
        with self.pipe_or_acquire() as pipe:
            pipe.zadd(self.unacked_index_key, {delivery_tag: time.time()})
            pipe.hset(self.unacked_key, delivery_tag, raw)
            pipe.hset(key, delivery_tag, _task_id(message))
            pipe.execute()
            virtual.QoS.append(self, message, delivery_tag)  # type: ignore[no-untyped-call]

    def _remove_from_indices(self, delivery_tag: str, pipe: Any = None) -> Any:
        # Every way out of `unacked` (ack, reject, restore) comes through here.
        pipe = super()._remove_from_indices(delivery_tag, pipe)  # type: ignore[no-untyped-call]
        key = type(self).ledger_key
        return pipe if key is None else pipe.hdel(key, delivery_tag)

    def _closed(self) -> bool:
        return getattr(self.channel, "connection", None) is None

    def _ack_directly(self, delivery_tag: str) -> None:
        factory = type(self).client_factory
        if factory is None:
            raise RuntimeError("broker_compat.install() was not called")
        client = factory()
        try:
            with client.pipeline(transaction=True) as pipe:
                self._remove_from_indices(delivery_tag, pipe).execute()
        finally:
            client.close()
        log.info("acknowledged %s after a broker reconnect", delivery_tag)

    def ack(self, delivery_tag: str) -> None:
        if self._closed():
            self._ack_directly(delivery_tag)
            return
        try:
            super().ack(delivery_tag)  # type: ignore[no-untyped-call]
        except redis.ResponseError:
            self._remove_untransacted(delivery_tag)

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        if self._closed():
            # Requeue or not, the message leaves `unacked`; a requeue is left to the ledger's
            # hand-back (or the visibility timeout), which both put it back on its queue.
            if not requeue:
                self._ack_directly(delivery_tag)
            return
        try:
            super().reject(delivery_tag, requeue=requeue)  # type: ignore[no-untyped-call]
        except redis.ResponseError:
            if requeue:  # nothing can be pushed back: the message stays held, in the ledger
                raise
            self._remove_untransacted(delivery_tag)

    def _remove_untransacted(self, delivery_tag: str) -> None:
        """Redis out of memory refuses every command queued in a MULTI, even a removal, so
        kombu's acknowledgement fails; the same removals sent one by one are allowed. Left
        undone, the delivery would stay in `unacked` and in this live process's ledger: held,
        to the reconciler, until the visibility timeout, and its job never driven on."""
        with self.channel.conn_or_acquire() as client, client.pipeline(transaction=False) as pipe:
            self._remove_from_indices(delivery_tag, pipe).execute()
        virtual.QoS.ack(self, delivery_tag)  # type: ignore[no-untyped-call]
        log.info("acknowledged %s outside a transaction: Redis refused the MULTI", delivery_tag)


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


def _task_id(message: Any) -> str:
    """The Celery task id a message carries (protocol 2 header, else its correlation id)."""
    headers = message.headers or {}
    return str(headers.get("id") or message.properties.get("correlation_id") or "")


def install(client_factory: Callable[[], redis.Redis]) -> None:
    """Apply the adjustments in this process (called at Celery worker start-up)."""
    _StaleChannelQoS.client_factory = client_factory
    _StaleChannelQoS.ledger_key = None
    channel: Any = kombu_redis.Channel
    channel.QoS = _StaleChannelQoS
    channel.do_restore = False
    channel.conn_or_acquire = _channel_client


def keep_ledger(key: str | None) -> None:
    """Write every delivery this process takes into the ledger at `key` (None: stop)."""
    _StaleChannelQoS.ledger_key = key
