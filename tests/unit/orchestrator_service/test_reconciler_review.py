"""The sweep and a job awaiting review: no round counted, nothing sent, no warning, until
its review expires; then the expiry is sent once."""

from __future__ import annotations

import logging

import pytest

from chorus.core import review
from chorus.store.reconcile import JobState
from tests.unit.core.test_review import awaiting
from tests.unit.orchestrator_service.test_reconciler import rig


def test_a_job_awaiting_review_is_left_alone_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reconciler, states, sent, clock = rig(set())
    states.jobs["job-1"] = JobState(awaiting(), frozenset(), 0)
    with caplog.at_level(logging.WARNING):
        for now in (0, 10, 20, 30, 40):
            clock.now = now
            reconciler.sweep()
    assert sent.log == [] and states.rounds["job-1"] == 0
    assert not caplog.records


def test_an_expired_review_is_sent_to_fail_the_job() -> None:
    reconciler, states, sent, clock = rig(set())
    # Created at T0, long past: the 1 s review timeout has passed.
    states.jobs["job-1"] = JobState(awaiting(review_timeout_s=1), frozenset(), 0)
    reconciler.sweep()
    clock.now = 10
    reconciler.sweep()
    assert sent.log == [("expire_review", review.timeout_reason(1))]
