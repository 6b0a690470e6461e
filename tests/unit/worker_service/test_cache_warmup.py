"""A worker call's part in its job's cache warm-up (worker_service/warmup.py through
execution.execute): followers wait for the lead's first token, the lead says when it comes
or when it will not, and the call is marked with the TTL its queueing calls for."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta
from typing import Any

from chorus.contract.caching import CacheUse
from chorus.contract.models import SubtaskAssignment, SubtaskResult, SubtaskStatus
from chorus.errors import RetryLater
from chorus.worker_service.execution import execute
from tests.support.factories import T0
from tests.support.standins import Rig, make_rig, permanent, planned_record, transient

JOB, MODEL = "job-1", "worker-model"


def rig() -> Rig:
    made = make_rig()
    made.store.put(planned_record())
    return made


def message(index: int, cache: CacheUse | None, **extra: Any) -> dict[str, Any]:
    return SubtaskAssignment.model_validate(
        {
            "job_id": JOB, "task": "t", "subtask": {"index": index, "type": f"t{index}",
            "description": "d"}, "model": MODEL, "max_tokens": 50, "cache": cache, **extra,
        }
    ).model_dump(mode="json")  # fmt: skip


def done(outcome: object) -> SubtaskResult:
    assert isinstance(outcome, SubtaskResult), outcome
    return outcome


def test_a_follower_waits_for_the_lead_then_calls_marked_for_reading() -> None:
    r = rig()
    r.store.cache_warmed(JOB, MODEL)
    follow = CacheUse(role="follow", wait_s=7.0, reason="read after the warm-up")
    result = done(execute(r.deps, message(1, follow)))
    assert r.store.warm_waits == [(JOB, MODEL, 7.0)]
    assert r.model.subtask_ttls == ["5m"]
    assert result.cache == "read after the warm-up"


def test_a_follower_whose_lead_never_answers_calls_anyway_after_its_wait() -> None:
    r = rig()
    result = done(execute(r.deps, message(1, CacheUse(role="follow", wait_s=0.05))))
    assert result.status is SubtaskStatus.SUCCEEDED and r.model.subtask_ttls == ["5m"]


def test_the_lead_signals_on_its_first_token_before_its_call_ends() -> None:
    r = rig()
    seen_during_call: list[bool] = []
    lead = CacheUse(role="lead")

    def stream_then_check(method: str) -> None:
        # Runs before the call's text is streamed; the signal must not be there yet.
        seen_during_call.append(r.store.wait_cache_warm(JOB, MODEL, 0))

    r.model.before_call = stream_then_check
    done(execute(r.deps, message(0, lead)))
    assert seen_during_call == [False]
    assert r.store.wait_cache_warm(JOB, MODEL, 0) is True


def test_the_first_token_wakes_a_waiting_follower() -> None:
    r = rig()
    woke = threading.Event()
    waiter = threading.Thread(
        target=lambda: woke.set() if r.store.wait_cache_warm(JOB, MODEL, 10) else None
    )
    waiter.start()
    done(execute(r.deps, message(0, CacheUse(role="lead"))))
    waiter.join(timeout=10)
    assert woke.is_set()


def test_a_lead_that_fails_or_is_put_off_releases_the_followers() -> None:
    failed = rig()
    failed.model.subtasks.append(permanent("bad request"))
    done(execute(failed.deps, message(0, CacheUse(role="lead"))))
    assert failed.store.wait_cache_warm(JOB, MODEL, 0)

    retried = rig()
    retried.model.subtasks.append(transient("overloaded"))
    with contextlib.suppress(RetryLater):
        execute(retried.deps, message(0, CacheUse(role="lead")))
    assert retried.store.wait_cache_warm(JOB, MODEL, 0)

    throttled = rig()
    throttled.limiter.waits.append(30.0)
    with contextlib.suppress(RetryLater):
        execute(throttled.deps, message(0, CacheUse(role="lead")))
    assert throttled.store.wait_cache_warm(JOB, MODEL, 0) and throttled.model.calls == 0


def test_a_call_without_a_cache_use_is_unmarked_and_waits_for_nothing() -> None:
    r = rig()
    result = done(execute(r.deps, message(0, None)))
    assert r.model.subtask_ttls == [None] and r.store.warm_waits == [] and result.cache is None


def test_a_call_whose_job_sat_queued_past_5_minutes_writes_for_an_hour() -> None:
    r = rig()
    late = message(0, CacheUse(role="lead"), dispatched_at=(T0 - timedelta(minutes=6)).isoformat())
    done(execute(r.deps, late))
    assert r.model.subtask_ttls == ["1h"]


def test_a_signal_the_store_cannot_take_costs_the_call_nothing() -> None:
    r = rig()
    r.store.fail_next("cache_warmed", ConnectionError("redis away"))
    result = done(execute(r.deps, message(0, CacheUse(role="lead"))))
    assert result.status is SubtaskStatus.SUCCEEDED
