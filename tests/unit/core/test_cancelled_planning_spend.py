"""A planning call still out when its job is cancelled was paid for: its spend lands on the
cancelled record once, and reaches the budget ledger as exactly what it added."""

import pytest

from chorus.contract.models import JobRecord, JobRequest, Usage
from chorus.core import records
from chorus.errors import InvalidTransition
from tests.support.factories import T0, running

# Every field non-zero, so a sign slip in any of them shows.
KEPT = Usage(
    input_tokens=10, output_tokens=20, cache_creation_input_tokens=30,
    cache_read_input_tokens=40, cost_usd=0.5,
)  # fmt: skip
SPENT = Usage(
    input_tokens=1, output_tokens=2, cache_creation_input_tokens=3,
    cache_read_input_tokens=4, cost_usd=0.25,
)  # fmt: skip


def _cancelled_while_planning() -> JobRecord:
    planning = records.new_record(
        JobRequest(task="t"), "j", orchestrator_model="o", worker_model="w",
        simulated=False, now=T0,
    )  # fmt: skip
    return records.with_cancellation(records.with_planning_spend(planning, KEPT, T0), T0)


def test_the_late_planning_spend_is_added_once_and_counted_as_exactly_what_it_added() -> None:
    cancelled = _cancelled_while_planning()
    paid = records.with_cancelled_planning_spend(cancelled, SPENT, KEPT, T0)
    assert paid.planning_usage == paid.usage == KEPT + SPENT
    assert records.planning_spend(cancelled, paid) == SPENT
    with pytest.raises(InvalidTransition) as again:
        records.with_cancelled_planning_spend(paid, SPENT, KEPT, T0)
    assert str(again.value) == "this planning attempt's spend is on the record already"


def test_only_a_job_cancelled_before_its_plan_takes_late_planning_spend() -> None:
    with pytest.raises(InvalidTransition) as refused:
        records.with_cancelled_planning_spend(running(1), SPENT, Usage(), T0)
    assert str(refused.value) == "no cancelled planning to add spend to on a running job"
