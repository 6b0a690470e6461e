"""The reconciler's decision for a job awaiting review: never re-planned or dispatched; left
waiting until its review timeout or its deadline passes, then expired with the reason."""

from __future__ import annotations

from datetime import timedelta

from chorus.core import review
from chorus.core.reconcile import Action, Decision, decide
from tests.support.factories import T0
from tests.unit.core.test_review import awaiting


def _decide(now_s: float, rounds: int = 0, **options: object) -> Decision:
    record = awaiting(**options)
    now = T0 + timedelta(seconds=now_s)
    return decide(record, frozenset(), now=now, rounds=rounds, max_rounds=3)


def test_a_job_awaiting_review_waits_however_long_and_however_many_rounds() -> None:
    # With a plan and no results it looks like a running job whose chord was lost: it is not.
    assert _decide(10).action is Action.WAIT
    assert _decide(7 * 24 * 3600, rounds=99).action is Action.WAIT


def test_past_its_review_timeout_the_job_expires_with_the_reason() -> None:
    assert _decide(59, review_timeout_s=60).action is Action.WAIT
    assert _decide(60, review_timeout_s=60) == Decision(
        Action.EXPIRE_REVIEW, reason=review.timeout_reason(60)
    )


def test_past_the_job_deadline_the_review_expires_too() -> None:
    decision = _decide(30, deadline_s=20)
    assert decision.action is Action.EXPIRE_REVIEW
    assert decision.reason is not None and decision.reason.startswith("deadline")
