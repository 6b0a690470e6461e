"""The reconciler's sweep: a job is acted on only after a whole grace period with nothing in
flight, each action gets a fresh grace period, and what it sends matches the decision."""

from __future__ import annotations

from collections import Counter

from chorus.contract.models import JobRecord
from chorus.core import records
from chorus.orchestrator_service.reconciler import Reconciler
from chorus.store.reconcile import JobState
from tests.support.factories import T0, running
from tests.support.standins import make_settings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class States:
    def __init__(self) -> None:
        self.jobs: dict[str, JobState] = {}
        self.rounds: Counter[str] = Counter()
        self.forgotten: list[str] = []
        self.started: Counter[int] = Counter()

    def active_jobs(self) -> list[str]:
        return list(self.jobs)

    def forget(self, job_id: str) -> None:
        self.forgotten.append(job_id)
        self.jobs.pop(job_id, None)

    def state(self, job_id: str) -> JobState:
        found = self.jobs[job_id]
        return JobState(found.record, found.stored, self.rounds[job_id])

    def count_round(self, job_id: str) -> None:
        self.rounds[job_id] += 1

    def started_attempts(self, job_id: str) -> Counter[int]:
        return self.started


class Sent:
    def __init__(self) -> None:
        self.log: list[tuple[str, object]] = []

    def plan(self, record: JobRecord) -> None:
        self.log.append(("plan", record.job_id))

    def dispatch(self, record: JobRecord, prior_attempts: dict[int, int]) -> None:
        self.log.append(("dispatch", prior_attempts))

    def gather(self, job_id: str, give_up: str | None) -> None:
        self.log.append(("gather", give_up))

    def fail(self, job_id: str, reason: str) -> None:
        self.log.append(("fail", reason))

    def expire_review(self, job_id: str, reason: str) -> None:
        self.log.append(("expire_review", reason))


def rig(owned: set[str]) -> tuple[Reconciler, States, Sent, Clock]:
    states, sent, clock = States(), Sent(), Clock()
    settings = make_settings(reconcile_grace_s=10, max_attempts=3)
    return Reconciler(states, sent, lambda: owned, settings, clock=clock), states, sent, clock


def test_a_job_is_driven_on_only_after_a_whole_grace_period_unowned() -> None:
    reconciler, states, sent, clock = rig(set())
    states.jobs["job-1"] = JobState(running(3), frozenset({1}), 0)
    states.started = Counter({0: 2})
    assert reconciler.sweep() == {}
    clock.now = 9.9
    assert reconciler.sweep() == {}
    clock.now = 10
    assert "job-1" in reconciler.sweep()
    assert sent.log == [("dispatch", {0: 2, 2: 0})]
    assert states.rounds["job-1"] == 1
    clock.now = 15  # a fresh grace period for what was just sent
    reconciler.sweep()
    assert len(sent.log) == 1


def test_a_job_seen_with_a_message_starts_its_grace_period_over() -> None:
    owned: set[str] = set()
    reconciler, states, sent, clock = rig(owned)
    states.jobs["job-1"] = JobState(running(2), frozenset(), 0)
    reconciler.sweep()
    clock.now = 8
    owned.add("job-1")
    reconciler.sweep()
    owned.clear()
    clock.now = 12
    reconciler.sweep()
    assert sent.log == []
    clock.now = 22
    reconciler.sweep()
    assert [kind for kind, _ in sent.log] == ["dispatch"]


def test_owned_jobs_are_never_touched() -> None:
    reconciler, states, sent, clock = rig({"job-1"})
    states.jobs["job-1"] = JobState(running(2), frozenset(), 0)
    for now in (0, 20, 40):
        clock.now = now
        reconciler.sweep()
    assert sent.log == [] and states.rounds["job-1"] == 0


def test_final_and_vanished_jobs_are_forgotten_without_sending_anything() -> None:
    reconciler, states, sent, clock = rig(set())
    final = records.finalized(running(1), {}, T0)
    states.jobs["done"] = JobState(final, frozenset(), 0)
    states.jobs["gone"] = JobState(None, frozenset(), 0)
    reconciler.sweep()
    clock.now = 10
    reconciler.sweep()
    assert sorted(states.forgotten) == ["done", "gone"] and sent.log == []


def test_gather_and_give_up_are_sent_as_decided() -> None:
    reconciler, states, sent, clock = rig(set())
    states.jobs["all-in"] = JobState(running(2), frozenset({0, 1}), 0)
    states.jobs["spent"] = JobState(
        running(2).model_copy(update={"job_id": "spent"}), frozenset({0}), 0
    )
    states.rounds["spent"] = 3
    reconciler.sweep()
    clock.now = 10
    reconciler.sweep()
    assert ("gather", None) in sent.log
    assert ("gather", "no result was stored after 3 re-dispatches") in sent.log
