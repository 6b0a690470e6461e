"""The heartbeat thread reaps nobody until its peers have had a whole TTL of reachable Redis
to beat again, at start and after every failed beat."""

from __future__ import annotations

import time
from typing import cast

import redis

from chorus.runtime.redelivery import DeliveryLedger, HeartbeatThread

TTL_S = 0.2


class Ledger:
    def __init__(self) -> None:
        self.down = False
        self.reaps = 0

    def beat(self) -> None:
        if self.down:
            raise redis.ConnectionError("Connection refused")

    def reap_dead(self) -> dict[str, int]:
        self.reaps += 1
        return {}


def thread(ledger: Ledger) -> HeartbeatThread:
    return HeartbeatThread(cast(DeliveryLedger, ledger), interval_s=0.01, ttl_s=TTL_S)


def test_no_reaping_until_a_ttl_after_start() -> None:
    ledger = Ledger()
    beats = thread(ledger)
    beats.tick()
    assert ledger.reaps == 0
    time.sleep(TTL_S)
    beats.tick()
    assert ledger.reaps == 1


def test_after_a_failed_beat_peers_get_a_whole_ttl_to_beat_again() -> None:
    ledger = Ledger()
    beats = thread(ledger)
    time.sleep(TTL_S)
    beats.tick()
    assert ledger.reaps == 1
    ledger.down = True
    beats.tick()  # Redis away: everybody's heartbeat lapses alike
    ledger.down = False
    beats.tick()
    assert ledger.reaps == 1  # back, but the others may not have beaten yet
    time.sleep(TTL_S)
    beats.tick()
    assert ledger.reaps == 2
