"""The delivery ledger rides in kombu's own transactions (`broker_compat`, adjustment 4): a
delivery's tag enters the process's ledger with its `unacked` entry and leaves with the ack,
the reject or the restore. Real kombu against the run's real redis-server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kombu.transport.redis as kombu_redis
import pytest
import redis
from kombu.connection import Connection

from chorus.devstack.stack import start_redis
from chorus.runtime import broker_compat
from chorus.runtime.redelivery import KOMBU_UNACKED, KOMBU_UNACKED_INDEX

DB = 13  # a database of its own: kombu's `unacked` hash is per database
LEDGER = "chorus:ledger:test-node@host/0123abcd"
QUEUE = "ledger-test"
NAMES = ("QoS", "do_restore", "conn_or_acquire")  # what `install` sets on kombu's channel


def _restore(saved: dict[str, Any]) -> None:
    broker_compat.keep_ledger(None)
    for name, value in saved.items():
        if value is None:  # inherited from kombu's virtual channel
            delattr(kombu_redis.Channel, name)
        else:
            setattr(kombu_redis.Channel, name, value)


@pytest.fixture
def url(redis_url: str) -> Iterator[str]:
    own = redis_url.rsplit("/", 1)[0] + f"/{DB}"
    admin = redis.Redis.from_url(own)
    admin.flushdb()
    saved: dict[str, Any] = {name: kombu_redis.Channel.__dict__.get(name) for name in NAMES}
    broker_compat.install(lambda: redis.Redis.from_url(own))
    broker_compat.keep_ledger(LEDGER)
    try:
        yield own
    finally:
        _restore(saved)
        admin.flushdb()
        admin.close()


def _held(admin: redis.Redis) -> tuple[dict[Any, Any], set[Any], set[Any]]:
    """The ledger, and the tags in kombu's unacked hash and index."""
    ledger = dict(admin.hgetall(LEDGER))
    index: list[Any] = list(admin.zrange(KOMBU_UNACKED_INDEX, 0, -1))
    return ledger, set(admin.hkeys(KOMBU_UNACKED)), set(index)


def test_a_delivery_enters_the_ledger_with_its_unacked_entry_and_leaves_with_the_ack(
    url: str,
) -> None:
    admin = redis.Redis.from_url(url)
    with Connection(url) as conn, conn.SimpleQueue(QUEUE, no_ack=False) as queue:  # type: ignore[no-untyped-call]
        queue.put({"n": 1}, headers={"id": "task-1"})
        message = queue.get(timeout=5)
        tag = str(message.delivery_tag).encode()
        ledger, unacked, index = _held(admin)
        assert ledger == {tag: b"task-1"} and unacked == {tag} and index == {tag}
        message.ack()
        assert _held(admin) == ({}, set(), set())


def test_a_requeued_delivery_leaves_the_ledger_and_goes_back_on_its_queue(url: str) -> None:
    admin = redis.Redis.from_url(url)
    with Connection(url) as conn, conn.SimpleQueue(QUEUE, no_ack=False) as queue:  # type: ignore[no-untyped-call]
        queue.put({"n": 2}, headers={"id": "task-2"})
        message = queue.get(timeout=5)
        assert admin.hlen(LEDGER) == 1
        message.requeue()
        assert _held(admin) == ({}, set(), set())
        again = queue.get(timeout=5)
        assert again.payload == {"n": 2} and admin.hvals(LEDGER) == [b"task-2"]
        again.ack()
        assert admin.hlen(LEDGER) == 0


def test_a_process_that_keeps_no_ledger_writes_none(url: str) -> None:
    broker_compat.keep_ledger(None)
    admin = redis.Redis.from_url(url)
    with Connection(url) as conn, conn.SimpleQueue(QUEUE, no_ack=False) as queue:  # type: ignore[no-untyped-call]
        queue.put({"n": 3}, headers={"id": "task-3"})
        message = queue.get(timeout=5)
        assert admin.exists(LEDGER) == 0 and admin.hlen(KOMBU_UNACKED) == 1
        message.ack()
        assert admin.hlen(KOMBU_UNACKED) == 0


def test_an_ack_or_reject_while_redis_is_out_of_memory_still_clears_the_delivery(
    workdir: Path,
) -> None:
    """Out of memory, Redis refuses every command queued in a MULTI, removals included: kombu's
    acknowledgement fails, and the delivery would stay held in a live process's ledger."""
    proc, own = start_redis(workdir, appendonly=False)
    saved: dict[str, Any] = {name: kombu_redis.Channel.__dict__.get(name) for name in NAMES}
    broker_compat.install(lambda: redis.Redis.from_url(own))
    broker_compat.keep_ledger(LEDGER)
    admin = redis.Redis.from_url(own)
    try:
        with Connection(own) as conn, conn.SimpleQueue(QUEUE, no_ack=False) as queue:  # type: ignore[no-untyped-call]
            for n in range(2):
                queue.put({"n": n}, headers={"id": f"task-{n}"})
            acked, rejected = queue.get(timeout=5), queue.get(timeout=5)
            admin.set("chorus:test:filler", "x" * 1_000_000)
            used = int(admin.info("memory")["used_memory"])
            admin.config_set("maxmemory", str(used // 2))
            acked.ack()
            rejected.reject(requeue=False)
            assert _held(admin) == ({}, set(), set())
    finally:
        admin.config_set("maxmemory", "0")
        admin.close()
        _restore(saved)
        proc.stop()
