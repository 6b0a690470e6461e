"""The broker adjustment that saves CPU: a kombu channel keeps one Redis client for the
acknowledgements, events and publishes that bring none (redis-py 8 builds one in ~0.2 ms)."""

from __future__ import annotations

from typing import Any

import kombu.transport.redis as kombu_redis

from chorus.runtime import broker_compat


class FakeChannel:
    """What `_channel_client` touches on a kombu channel: its `_create_client`."""

    def __init__(self) -> None:
        self.built: list[object] = []

    def _create_client(self) -> object:
        client = object()
        self.built.append(client)
        return client


def test_a_channel_builds_one_client_and_reuses_it() -> None:
    channel = FakeChannel()
    with broker_compat._channel_client(channel) as first:
        pass
    with broker_compat._channel_client(channel) as second:
        pass
    assert first is second and channel.built == [first]


def test_a_client_passed_in_is_used_and_none_is_built() -> None:
    channel, given = FakeChannel(), object()
    with broker_compat._channel_client(channel, given) as used:
        assert used is given
    assert channel.built == []


def test_each_channel_has_its_own_client() -> None:
    one, two = FakeChannel(), FakeChannel()
    with broker_compat._channel_client(one) as a, broker_compat._channel_client(two) as b:
        assert a is not b


def test_install_puts_it_on_kombus_channel_and_the_sentinel_channel_inherits_it() -> None:
    names = ("QoS", "do_restore", "conn_or_acquire")
    saved: dict[str, Any] = {name: kombu_redis.Channel.__dict__.get(name) for name in names}
    try:
        broker_compat.install(lambda: None)  # type: ignore[arg-type,return-value]
        assert kombu_redis.Channel.conn_or_acquire is broker_compat._channel_client
        assert kombu_redis.SentinelChannel.conn_or_acquire is broker_compat._channel_client
    finally:
        for name, value in saved.items():
            if value is None:  # inherited from kombu's virtual channel
                delattr(kombu_redis.Channel, name)
            else:
                setattr(kombu_redis.Channel, name, value)
