"""The planning step (`orchestrator.run_job`), branch by branch, on in-memory stand-ins."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from chorus.contract.events import EventKind
from chorus.contract.models import JobOptions, JobRecord, JobRequest, JobStatus, Usage
from chorus.core import records
from chorus.errors import PlanError, RetryLater
from chorus.orchestrator_service.planning import fail_job, parse_request, plan_job, run_job
from tests.support.factories import T0, result
from tests.support.standins import (
    PLAN_USAGE,
    Dispatch,
    Rig,
    make_rig,
    permanent,
    plan_reply,
    planned_record,
    transient,
)

JOB = "job-1"


@pytest.fixture
def rig() -> Rig:
    return make_rig()


@pytest.fixture
def max_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff jitter always picks the top of its window, so countdowns are exact."""
    monkeypatch.setattr(random, "uniform", lambda low, high: high)


@pytest.fixture
def no_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Backoff jitter always picks 0, so only a retry-after floor shows."""
    monkeypatch.setattr(random, "uniform", lambda low, high: low)


def payload(**extra: Any) -> dict[str, Any]:
    return {"task": "write a haiku", "job_id": JOB, **extra}


def run(
    rig: Rig, body: dict[str, Any], *, retries: int = 0, dispatch: Dispatch | None = None
) -> dict[str, Any]:
    return run_job(
        rig.deps, body, task_id="task-1", retries=retries, dispatch=dispatch or Dispatch()
    )


def submitted(rig: Rig, *, orchestrator_model: str = "submitted-model") -> JobRecord:
    """The planning record the submit path writes before it enqueues run_job."""
    request = JobRequest(task="write a haiku", job_id=JOB)
    return rig.store.create(
        records.new_record(
            request,
            JOB,
            orchestrator_model=orchestrator_model,
            worker_model="w",
            simulated=True,
            now=T0 - timedelta(hours=1),
        )
    )


# -- rejected messages --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"task": "   ", "job_id": JOB}, "task: task must not be empty"),
        ({"job_id": JOB}, "task: Field required"),
        ({"task": "x", "context": [1, 2]}, "context: context must be a JSON object"),
        ({"task": "x", "job_id": "no spaces allowed"}, "job_id: job_id must be 1-128"),
        ({"task": "x", "options": {"max_subtasks": 0}}, "options.max_subtasks: Input should be"),
    ],
)
def test_a_rejected_payload_says_why_and_touches_nothing(
    rig: Rig, body: dict[str, Any], error: str
) -> None:
    dispatch = Dispatch()
    outcome = run(rig, body, dispatch=dispatch)
    assert outcome["status"] == "rejected"
    assert outcome["job_id"] == body.get("job_id")
    assert error in outcome["error"]
    assert "\n" not in outcome["error"] and "Traceback" not in outcome["error"]
    assert rig.store.is_empty and rig.store.created == []
    assert rig.model.calls == 0 and rig.limiter.calls == [] and dispatch.calls == []
    assert rig.events.emitted == [] and not rig.store.retries


def test_parse_request_keeps_a_given_job_id_and_fills_in_a_missing_one() -> None:
    given = parse_request(payload(), fallback_job_id="task-9")
    filled = parse_request({"task": "t"}, fallback_job_id="task-9")
    assert isinstance(given, JobRequest) and given.job_id == JOB
    assert isinstance(filled, JobRequest) and filled.job_id == "task-9"
    assert parse_request({"task": 1}, fallback_job_id="x") == "task: Input should be a valid string"


# -- creating and resuming the record ------------------------------------------------------


def test_a_missing_record_is_created_under_the_task_id_and_planned(rig: Rig) -> None:
    dispatch = Dispatch()
    outcome = run(rig, {"task": "write a haiku"}, dispatch=dispatch)
    assert outcome == {"job_id": "task-1", "status": "running"}
    assert rig.store.created == ["task-1"]
    record = rig.store.record("task-1")
    assert record.status is JobStatus.RUNNING and record.request.job_id == "task-1"
    assert record.orchestrator_model == "orch-model" and record.worker_model == "worker-model"
    assert [s.type for s in record.plan.subtasks] == ["angle-0", "angle-1"]  # type: ignore[union-attr]
    [call] = rig.model.plan_calls
    assert (call.model, call.max_tokens, call.feedback) == ("orch-model", 1000, None)
    assert call.request.task == "write a haiku"


def test_the_request_options_choose_the_planning_model_and_its_token_cap(rig: Rig) -> None:
    options = {"orchestrator_model": "big-model", "plan_max_tokens": 77, "max_subtasks": 1}
    run(rig, payload(options=options))
    [call] = rig.model.plan_calls
    assert (call.model, call.max_tokens) == ("big-model", 77)
    model, cost = rig.limiter.calls[0]
    assert model == "big-model" and cost.output_tokens == 77
    assert rig.store.record(JOB).subtasks_total == 1


def test_a_record_written_by_submit_is_resumed_not_replaced(rig: Rig) -> None:
    before = submitted(rig)
    outcome = run(rig, payload())
    assert outcome == {"job_id": JOB, "status": "running"}
    assert rig.store.created == [JOB]  # only the submit path's write
    after = rig.store.record(JOB)
    assert after.created_at == before.created_at
    assert after.orchestrator_model == "submitted-model"
    assert rig.model.plan_calls[0].model == "submitted-model"


def test_dispatch_is_called_exactly_once_with_the_stored_running_record(rig: Rig) -> None:
    dispatch = Dispatch()
    run(rig, payload(), dispatch=dispatch)
    assert dispatch.calls == [rig.store.record(JOB)]
    [sent] = dispatch.calls
    assert sent.status is JobStatus.RUNNING and sent.plan is not None
    assert sent.planning_usage == PLAN_USAGE == sent.usage
    assert rig.store.control(JOB).spent_tokens == PLAN_USAGE.total_tokens
    assert rig.events.kinds() == [EventKind.PLANNED]
    assert rig.events.emitted[0].data == {"subtasks": 2, "types": ["angle-0", "angle-1"]}


def test_a_redelivery_for_a_running_job_calls_no_model_and_dispatches_again(rig: Rig) -> None:
    # The first delivery stored the plan and then died before (or while) it dispatched; the
    # chord must still go out, and duplicate subtasks are harmless (first writer wins).
    stored = rig.store.put(planned_record())
    dispatch = Dispatch()
    outcome = run(rig, payload(), retries=1, dispatch=dispatch)
    assert outcome == {"job_id": JOB, "status": "running"}
    assert rig.model.calls == 0 and rig.limiter.calls == []
    assert dispatch.calls == [stored]
    assert rig.events.emitted == [] and rig.store.record(JOB) == stored


@pytest.mark.parametrize(
    "final",
    [
        records.with_failure(planned_record(), "boom", T0),
        records.with_cancellation(planned_record(), T0),
        records.finalized(planned_record(1), {0: result(0)}, T0),
    ],
    ids=["failed", "cancelled", "succeeded"],
)
def test_a_redelivery_for_a_final_job_returns_it_untouched(rig: Rig, final: JobRecord) -> None:
    rig.store.put(final)
    dispatch = Dispatch()
    outcome = run(rig, payload(), dispatch=dispatch)
    assert outcome == {"job_id": JOB, "status": final.status.value}
    assert rig.model.calls == 0 and dispatch.calls == [] and rig.events.emitted == []
    assert rig.store.record(JOB) == final


def test_a_job_cancelled_while_its_plan_was_asked_for_is_not_planned_or_dispatched(
    rig: Rig,
) -> None:
    def cancel_meanwhile(method: str) -> None:
        rig.store.cancel(JOB)

    rig.model.before_call = cancel_meanwhile
    dispatch = Dispatch()
    outcome = run(rig, payload(), dispatch=dispatch)
    assert outcome == {"job_id": JOB, "status": "cancelled"}
    record = rig.store.record(JOB)
    assert record.status is JobStatus.CANCELLED and record.plan is None
    assert dispatch.calls == [] and rig.events.kinds() == [EventKind.CANCELLED]
    # The planning call was paid for: on the record and the job's spend, once.
    assert record.planning_usage == PLAN_USAGE == record.usage
    assert rig.store.control(JOB).spent_tokens == PLAN_USAGE.total_tokens


def test_a_plan_rejected_after_the_job_was_cancelled_still_keeps_both_calls_spend(
    rig: Rig,
) -> None:
    calls = 0

    def cancel_before_the_repair(method: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            rig.store.cancel(JOB)

    rig.model.before_call = cancel_before_the_repair
    rig.model.plans.extend([plan_reply(usage=FIRST), plan_reply("x", "X", usage=SECOND)])
    outcome = run(rig, payload())
    assert outcome == {"job_id": JOB, "status": "cancelled"}
    record = rig.store.record(JOB)
    assert record.status is JobStatus.CANCELLED
    assert record.planning_usage == FIRST + SECOND == record.usage
    assert rig.store.control(JOB).spent_tokens == (FIRST + SECOND).total_tokens


# -- model failures -----------------------------------------------------------------------


@pytest.mark.parametrize(("retries", "window"), [(0, 1.0), (1, 2.0)])
def test_a_retryable_model_error_retries_within_the_backoff_window(
    rig: Rig, retries: int, window: float
) -> None:
    rig.model.plans.append(transient("overloaded"))
    dispatch = Dispatch()
    with pytest.raises(RetryLater) as caught:
        run(rig, payload(), retries=retries, dispatch=dispatch)
    assert 0 <= caught.value.countdown <= window
    assert caught.value.reason == "overloaded"
    # The retry carries this delivery's planning claim, so it finds the claim its own again.
    assert caught.value.kwargs == {**payload(), "planning_claim": "task-1", "planning_waits": 0}
    assert rig.store.retries == {"plan": 1}
    assert rig.store.record(JOB).status is JobStatus.PLANNING
    assert dispatch.calls == [] and rig.events.emitted == []


@pytest.mark.usefixtures("max_jitter")
@pytest.mark.parametrize(("retries", "countdown"), [(0, 1.0), (1, 2.0), (5, 4.0)])
def test_the_backoff_window_doubles_per_attempt_up_to_the_cap(
    retries: int, countdown: float
) -> None:
    rig = make_rig(max_attempts=10)
    rig.model.plans.append(transient())
    with pytest.raises(RetryLater) as caught:
        run(rig, payload(), retries=retries)
    assert caught.value.countdown == countdown


@pytest.mark.usefixtures("no_jitter")
@pytest.mark.parametrize(("retry_after", "countdown"), [(3.0, 3.0), (100.0, 4.0)])
def test_retry_after_is_a_floor_capped_at_the_longest_backoff(
    rig: Rig, retry_after: float, countdown: float
) -> None:
    rig.model.plans.append(transient(retry_after_s=retry_after))
    with pytest.raises(RetryLater) as caught:
        run(rig, payload())
    assert caught.value.countdown == countdown


def test_a_retryable_error_on_the_last_attempt_fails_the_job_naming_the_attempts(
    rig: Rig,
) -> None:
    rig.model.plans.append(transient("overloaded"))
    dispatch = Dispatch()
    outcome = run(rig, payload(), retries=2, dispatch=dispatch)
    assert outcome == {"job_id": JOB, "status": "failed"}
    record = rig.store.record(JOB)
    assert record.status is JobStatus.FAILED
    assert record.error == "planning failed after 3 attempt(s): overloaded"
    assert record.usage == Usage() and record.finished_at is not None
    assert not rig.store.retries and dispatch.calls == []
    assert rig.events.kinds() == [EventKind.JOB_FINISHED]
    assert rig.events.emitted[0].data["status"] == "failed"
    assert rig.events.emitted[0].data["tokens"] == 0


def test_a_permanent_model_error_fails_the_job_at_once(rig: Rig) -> None:
    rig.model.plans.append(permanent("model endpoint answered 400: bad"))
    outcome = run(rig, payload())
    assert outcome["status"] == "failed"
    record = rig.store.record(JOB)
    assert record.error == "planning failed after 1 attempt(s): model endpoint answered 400: bad"
    assert len(rig.model.plan_calls) == 1 and not rig.store.retries


# -- plans that break the rules -----------------------------------------------------------

FIRST = Usage(input_tokens=10, output_tokens=20, cost_usd=0.01)
SECOND = Usage(input_tokens=30, output_tokens=40, cost_usd=0.02)


@pytest.mark.parametrize(
    ("first", "options", "feedback"),
    [
        (plan_reply(usage=FIRST), {}, "the plan has no subtasks; at least 1 is required"),
        (
            plan_reply("a", "b", usage=FIRST),
            {"max_subtasks": 1},
            "the plan has 2 subtasks; at most 1 are allowed",
        ),
        (
            plan_reply("a", "A", usage=FIRST),
            {},
            "invalid plan: subtask 1 repeats the type 'A' of subtask 0",
        ),
    ],
    ids=["empty", "too-many", "duplicate-type"],
)
def test_a_plan_breaking_the_rules_gets_one_repair_round_with_the_reason(
    rig: Rig, first: Any, options: dict[str, Any], feedback: str
) -> None:
    rig.model.plans.extend([first, plan_reply("formal", usage=SECOND)])
    dispatch = Dispatch()
    outcome = run(rig, payload(options=options), dispatch=dispatch)
    assert outcome["status"] == "running"
    assert [c.feedback for c in rig.model.plan_calls] == [None, feedback]
    record = rig.store.record(JOB)
    assert [s.type for s in record.plan.subtasks] == ["formal"]  # type: ignore[union-attr]
    assert record.planning_usage == FIRST + SECOND == record.usage
    control = rig.store.control(JOB)
    assert control.spent_tokens == (FIRST + SECOND).total_tokens
    assert control.spent_usd == pytest.approx(0.03)
    assert len(rig.limiter.calls) == 2  # each round takes its own slot
    assert len(dispatch.calls) == 1


def test_a_plan_error_raised_by_the_model_also_gets_a_repair_round(rig: Rig) -> None:
    rig.model.plans.extend([PlanError("the model returned no plan"), plan_reply("a")])
    outcome = run(rig, payload())
    assert outcome["status"] == "running"
    assert rig.model.plan_calls[1].feedback == "the model returned no plan"


def test_a_second_rule_failure_fails_the_job_keeping_both_rounds_usage(rig: Rig) -> None:
    rig.model.plans.extend([plan_reply(usage=FIRST), plan_reply("x", "X", usage=SECOND)])
    dispatch = Dispatch()
    outcome = run(rig, payload(), dispatch=dispatch)
    assert outcome == {"job_id": JOB, "status": "failed"}
    record = rig.store.record(JOB)
    assert record.error == (
        "planning failed: invalid plan: subtask 1 repeats the type 'X' of subtask 0"
        " (after 1 repair round)"
    )
    assert record.planning_usage == FIRST + SECOND == record.usage
    assert rig.store.control(JOB).spent_tokens == (FIRST + SECOND).total_tokens
    assert len(rig.model.plan_calls) == 2 and dispatch.calls == []
    assert rig.events.kinds() == [EventKind.JOB_FINISHED]
    assert not rig.store.retries  # a broken plan is not retried


def test_usage_carried_by_a_plan_error_from_the_model_is_kept(rig: Rig) -> None:
    rig.model.plans.extend([PlanError("cut off at max_tokens", usage=FIRST), plan_reply("a")])
    run(rig, payload())
    assert rig.store.record(JOB).planning_usage == FIRST + PLAN_USAGE


def test_a_plan_cut_off_at_max_tokens_fails_at_once_without_a_useless_repair(rig: Rig) -> None:
    cut = PlanError("the model's plan was cut off at max_tokens (30)", FIRST, repairable=False)
    rig.model.plans.extend([cut, plan_reply("a")])
    outcome = run(rig, payload())
    assert outcome == {"job_id": JOB, "status": "failed"}
    record = rig.store.record(JOB)
    assert record.error == "planning failed: the model's plan was cut off at max_tokens (30)"
    assert len(rig.model.plan_calls) == 1  # the same max_tokens would cut a repair off too
    assert record.planning_usage == FIRST == record.usage  # the cut-off call stays billed


def test_a_model_error_in_the_repair_round_keeps_the_first_rounds_usage(rig: Rig) -> None:
    rig.model.plans.extend([plan_reply(usage=FIRST), permanent()])
    run(rig, payload())
    record = rig.store.record(JOB)
    assert record.status is JobStatus.FAILED
    assert record.planning_usage == FIRST


def test_a_retried_repair_round_keeps_what_the_first_round_paid_for(rig: Rig) -> None:
    rig.model.plans.extend([plan_reply(usage=FIRST), transient()])
    with pytest.raises(RetryLater):
        run(rig, payload())
    kept = rig.store.record(JOB)
    assert kept.status is JobStatus.PLANNING and kept.planning_usage == FIRST
    assert rig.store.control(JOB).spent_tokens == 0  # counted once, when planning ends

    rig.model.plans.append(plan_reply("a", usage=SECOND))
    run(rig, payload(), retries=1)
    record = rig.store.record(JOB)
    assert record.status is JobStatus.RUNNING
    assert record.planning_usage == FIRST + SECOND == record.usage
    assert rig.store.control(JOB).spent_tokens == (FIRST + SECOND).total_tokens


# -- the rate limiter ---------------------------------------------------------------------


def test_short_limiter_waits_are_slept_in_place(rig: Rig) -> None:
    rig.limiter.waits.extend([4.0, 5.0])  # 9 s in all: within one window (10 s) + 1
    outcome = run(rig, payload())
    assert outcome["status"] == "running"
    assert rig.sleep.calls == [4.0, 5.0] and len(rig.limiter.calls) == 3
    assert not rig.store.retries and len(rig.model.plan_calls) == 1
    model, cost = rig.limiter.calls[0]
    assert model == "orch-model" and cost.output_tokens == 1000 and cost.input_tokens >= 1


@pytest.mark.usefixtures("no_jitter")
@pytest.mark.parametrize(
    ("waits", "slept", "countdown"),
    [([12.0], [], 4.0), ([6.0, 6.0], [6.0], 4.0), ([6.0, 2.0, 4.0], [6.0, 2.0], 4.0)],
)
def test_a_long_limiter_wait_asks_for_a_retry_instead_of_sleeping(
    rig: Rig, waits: list[float], slept: list[float], countdown: float
) -> None:
    rig.limiter.waits.extend(waits)
    with pytest.raises(RetryLater) as caught:
        run(rig, payload())
    assert caught.value.countdown == countdown  # the wait is a floor, capped at retry_max_s
    assert caught.value.reason == "rate limit: no slot for planning"
    assert rig.sleep.calls == slept
    assert rig.model.calls == 0 and rig.store.retries == {"plan": 1}


@pytest.mark.usefixtures("no_jitter")
def test_a_short_retry_after_from_the_limiter_is_kept_as_the_floor(rig: Rig) -> None:
    rig.limiter.waits.extend([8.0, 3.5])  # 8 slept, then 11.5 > 11: the 3.5 s left is the floor
    with pytest.raises(RetryLater) as caught:
        run(rig, payload())
    assert caught.value.countdown == 3.5


def test_no_slot_on_the_last_attempt_fails_the_job(rig: Rig) -> None:
    rig.limiter.waits.append(60.0)
    outcome = run(rig, payload(), retries=2)
    assert outcome["status"] == "failed"
    assert rig.store.record(JOB).error == (
        "planning failed after 3 attempt(s): rate limit: no slot for planning"
    )


# -- unexpected errors --------------------------------------------------------------------


@pytest.mark.parametrize(("retries", "countdown"), [(0, 1.0), (1, 2.0)])
def test_an_error_in_dispatch_asks_for_a_retry_on_the_internal_error_schedule(
    rig: Rig, retries: int, countdown: float
) -> None:
    boom = RuntimeError("chord send failed")
    with pytest.raises(RetryLater) as caught:
        run(rig, payload(), retries=retries, dispatch=Dispatch(boom))
    assert caught.value.countdown == countdown
    assert caught.value.reason == "internal error: RuntimeError"
    assert caught.value.__cause__ is boom
    assert rig.store.record(JOB).status is JobStatus.RUNNING
    assert not rig.store.retries  # internal errors are not model retries


def test_an_error_in_dispatch_fails_the_job_on_record_after_the_last_attempt(rig: Rig) -> None:
    dispatch = Dispatch(RuntimeError("chord send failed"))
    for retries in (0, 1):
        with pytest.raises(RetryLater):
            run(rig, payload(), retries=retries, dispatch=dispatch)
    outcome = run(rig, payload(), retries=2, dispatch=dispatch)
    assert outcome == {"job_id": JOB, "status": "failed"}
    record = rig.store.record(JOB)
    assert record.status is JobStatus.FAILED
    assert record.error == "internal error: RuntimeError"
    assert record.planning_usage == PLAN_USAGE == record.usage  # the plan's cost stays
    assert len(rig.model.plan_calls) == 1  # redeliveries resumed from the stored plan
    assert len(dispatch.calls) == 3
    assert rig.events.kinds() == [EventKind.PLANNED, EventKind.JOB_FINISHED]
    assert rig.store.control(JOB).spent_tokens == PLAN_USAGE.total_tokens  # counted once


def test_a_store_blip_is_retried_and_the_redelivery_carries_on(rig: Rig) -> None:
    submitted(rig)
    rig.store.fail_next("find", ConnectionError("redis went away"))
    with pytest.raises(RetryLater) as caught:
        run(rig, payload())
    assert caught.value.countdown == 1.0
    assert caught.value.reason == "internal error: ConnectionError"
    assert rig.model.calls == 0
    assert run(rig, payload(), retries=1)["status"] == "running"


def test_a_store_blip_on_the_last_attempt_fails_the_job_on_record(rig: Rig) -> None:
    submitted(rig)
    rig.store.fail_next("find", ConnectionError("redis went away"))
    outcome = run(rig, payload(), retries=2)
    assert outcome == {"job_id": JOB, "status": "failed"}
    assert rig.store.record(JOB).error == "internal error: ConnectionError"


def test_with_one_attempt_an_internal_error_fails_the_job_at_once() -> None:
    rig = make_rig(max_attempts=1)
    outcome = run(rig, payload(), dispatch=Dispatch(KeyError("x")))
    assert outcome["status"] == "failed"
    assert rig.store.record(JOB).error == "internal error: KeyError"


@pytest.mark.parametrize("retries", [0, 2])
def test_a_retry_later_raised_inside_is_passed_on_untouched(rig: Rig, retries: int) -> None:
    wanted = RetryLater(7.0, "dispatcher asked", kwargs={"x": 1})
    with pytest.raises(RetryLater) as caught:
        run(rig, payload(), retries=retries, dispatch=Dispatch(wanted))
    assert caught.value is wanted
    assert rig.store.record(JOB).status is JobStatus.RUNNING  # not failed as an internal error


# -- plan_job and fail_job directly -------------------------------------------------------


def test_plan_job_returns_the_running_record(rig: Rig) -> None:
    request = JobRequest(task="t", job_id=JOB, options=JobOptions(max_subtasks=1))
    record = plan_job(rig.deps, request, retries=0, claimant="task-1")
    assert record.status is JobStatus.RUNNING and record == rig.store.record(JOB)
    assert record.updated_at == rig.clock()


def test_fail_job_leaves_a_final_job_as_it_is(rig: Rig) -> None:
    done = rig.store.put(records.finalized(planned_record(1), {0: result(0)}, T0))
    assert fail_job(rig.deps, JOB, "late") == done
    assert rig.events.emitted == []
