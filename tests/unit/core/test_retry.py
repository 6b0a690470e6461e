import random

from chorus.core.retry import backoff_delay_s, next_retry_delay_s


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
