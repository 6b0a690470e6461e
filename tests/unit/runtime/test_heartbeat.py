"""The heartbeat thread reaps nobody until its peers have had a whole TTL of reachable Redis
to beat again: at start, and whenever its own beats stopped long enough for a live peer's key
to lapse (Redis away, whether the beat failed or just took that long)."""

from __future__ import annotations

from typing import cast

import redis

from chorus.runtime.redelivery import DeliveryLedger, HeartbeatThread

TTL_S = 15.0
INTERVAL_S = 3.0


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


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rig() -> tuple[HeartbeatThread, Ledger, Clock]:
    ledger, clock = Ledger(), Clock()
    beats = HeartbeatThread(
        cast(DeliveryLedger, ledger), interval_s=INTERVAL_S, ttl_s=TTL_S, clock=clock
    )
    return beats, ledger, clock


def beat_for(beats: HeartbeatThread, clock: Clock, seconds: float) -> None:
    """Tick every interval, as the thread does."""
    end = clock.now + seconds
    while clock.now < end:
        beats.tick()
        clock.now += INTERVAL_S


def test_no_reaping_until_a_ttl_after_start() -> None:
    beats, ledger, clock = rig()
    beat_for(beats, clock, TTL_S)
    assert ledger.reaps == 0
    beat_for(beats, clock, INTERVAL_S)
    assert ledger.reaps == 1


def test_after_redis_was_away_peers_get_a_whole_ttl_to_beat_again() -> None:
    beats, ledger, clock = rig()
    beat_for(beats, clock, 2 * TTL_S)
    reaped = ledger.reaps
    ledger.down = True
    beat_for(beats, clock, 90)  # everybody's heartbeat lapses alike
    ledger.down = False
    beat_for(beats, clock, TTL_S)
    assert ledger.reaps == reaped  # back, but the others may not have beaten yet
    beat_for(beats, clock, INTERVAL_S)
    assert ledger.reaps == reaped + 1


def test_a_beat_that_itself_took_past_the_gap_also_waits() -> None:
    beats, ledger, clock = rig()
    beat_for(beats, clock, 2 * TTL_S)
    reaped = ledger.reaps
    clock.now += 12  # one beat blocked in the client's retries through an outage
    beat_for(beats, clock, TTL_S)
    assert ledger.reaps == reaped


def test_a_blip_shorter_than_the_gap_does_not_stop_reaping() -> None:
    beats, ledger, clock = rig()
    beat_for(beats, clock, 2 * TTL_S)
    reaped = ledger.reaps
    ledger.down = True
    beat_for(beats, clock, INTERVAL_S)
    ledger.down = False
    beat_for(beats, clock, INTERVAL_S)
    assert ledger.reaps == reaped + 1
