import random
from typing import Any

from chorus.core.retry import (
    PLANNING_CLAIM_BUSY_S,
    SYNTHESIS_CLAIM_BUSY_S,
    VISIBILITY_MARGIN_S,
    RetrySettings,
    backoff_delay_s,
    gather_recheck_delay_s,
    gather_waited_s,
    internal_error_delay_s,
    next_retry_delay_s,
    next_save_pause_s,
    planning_claim_ttl_s,
    store_unavailable_delay_s,
    straggler_wait_s,
    throttled_delay_s,
)


def test_delay_grows_exponentially_within_the_cap() -> None:
    rng = random.Random(1)
    for attempt, window in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 10.0), (30, 10.0)]:
        delays = [backoff_delay_s(attempt, base_s=1, cap_s=10, rng=rng) for _ in range(200)]
        assert min(delays) >= 0 and max(delays) <= window
        assert max(delays) > window * 0.8  # full jitter spans the whole window


def test_retry_after_is_a_floor_but_never_beyond_the_cap() -> None:
    assert backoff_delay_s(1, base_s=1, cap_s=10, retry_after_s=5) >= 5
    assert backoff_delay_s(1, base_s=1, cap_s=10, retry_after_s=500) == 10


def test_no_retry_for_permanent_failures_or_after_the_last_attempt() -> None:
    from chorus.settings import Settings

    settings = Settings(max_attempts=3, retry_base_s=1, retry_max_s=4)
    assert next_retry_delay_s(False, None, 1, settings) is None
    assert next_retry_delay_s(True, None, 3, settings) is None
    delay = next_retry_delay_s(True, 2.0, 2, settings)
    assert delay is not None and 2.0 <= delay <= 4


def _settings(**overrides: Any) -> RetrySettings:
    from chorus.settings import Settings

    values: dict[str, Any] = {
        "max_attempts": 3,
        "retry_base_s": 1,
        "retry_max_s": 4,
        "model_timeout_s": 10,
        "stream_timeout_s": 10,
        "heartbeat_ttl_s": 6,
        "heartbeat_interval_s": 2,
    }
    return Settings(**{**values, **overrides})


def test_a_throttled_requeue_waits_the_limiters_wait_plus_up_to_half_a_second() -> None:
    rng = random.Random(3)
    delays = [throttled_delay_s(7.0, rng) for _ in range(300)]
    assert min(delays) >= 7.0 and max(delays) <= 7.5
    assert max(delays) - min(delays) > 0.4  # spread over the half second, not synchronised
    assert 0.0 <= throttled_delay_s(0.0) <= 0.5


def test_internal_errors_retry_after_one_second_more_each_time_until_the_last_attempt() -> None:
    settings = _settings(max_attempts=4)
    assert [internal_error_delay_s(n, settings) for n in range(5)] == [1.0, 2.0, 3.0, None, None]
    assert internal_error_delay_s(0, _settings(max_attempts=1)) is None


def test_gather_rechecks_double_from_one_second_up_to_fifteen() -> None:
    assert [gather_recheck_delay_s(n) for n in range(7)] == [1, 2, 4, 8, 15, 15, 15]
    assert gather_recheck_delay_s(200) == 15  # no overflow for a long wait


def test_gather_waited_is_the_sum_of_the_rechecks_before() -> None:
    assert [gather_waited_s(n) for n in range(7)] == [0, 1, 3, 7, 15, 30, 45]


def test_the_straggler_wait_covers_every_timeout_backoff_and_a_hand_back() -> None:
    # 10 s x 3 attempts + 4 s x 2 backoffs + 6 s heartbeat TTL + 2 x 2 s beats
    assert straggler_wait_s(_settings()) == 30 + 8 + 6 + 4
    assert straggler_wait_s(_settings(max_attempts=1)) == 10 + 0 + 6 + 4


def test_a_busy_synthesis_claim_is_looked_at_again_at_the_longest_recheck() -> None:
    assert SYNTHESIS_CLAIM_BUSY_S == gather_recheck_delay_s(100) == 15


# Found by mutation testing (docs/mutation.md): each test pins behaviour a mutant changed.


def test_full_jitter_starts_at_zero() -> None:
    rng = random.Random(2)
    delays = [backoff_delay_s(1, base_s=1, cap_s=10, rng=rng) for _ in range(200)]
    assert min(delays) < 0.1


def test_a_store_outage_sends_a_subtask_back_in_two_to_five_seconds_spread_out() -> None:
    rng = random.Random(4)
    delays = [store_unavailable_delay_s(rng) for _ in range(300)]
    assert min(delays) >= 2.0 and max(delays) <= 5.0
    assert min(delays) < 2.1 and max(delays) > 4.9  # spread over the whole window
    assert 2.0 <= store_unavailable_delay_s() <= 5.0


def test_save_pauses_double_up_to_ten_seconds() -> None:
    pauses = [1.0]
    for _ in range(5):
        pauses.append(next_save_pause_s(pauses[-1]))
    assert pauses == [1, 2, 4, 8, 10, 10]


def test_the_planning_claim_outlasts_every_round_and_the_longest_retry_wait() -> None:
    # 2 rounds x (10 s timeout + 3 s throttle) + 4 s longest backoff + 1 s slack
    assert planning_claim_ttl_s(_settings(), rounds=2, throttle_s=3) == 26 + 4 + 1


def test_the_fixed_waits_are_a_minute_of_margin_and_a_second_between_claim_looks() -> None:
    assert VISIBILITY_MARGIN_S == 60.0
    assert PLANNING_CLAIM_BUSY_S == 1.0
