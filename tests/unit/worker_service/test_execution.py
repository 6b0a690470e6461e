"""Running one subtask (`worker.run_subtask`), branch by branch, on in-memory stand-ins."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from chorus.contract.events import EventKind
from chorus.contract.models import (
    Budget,
    Subtask,
    SubtaskAssignment,
    SubtaskResult,
    SubtaskStatus,
    Usage,
)
from chorus.core.rates import estimate_input_tokens
from chorus.errors import RetryLater
from chorus.worker_service.execution import execute
from chorus.worker_service.refusals import Refused
from tests.support.factories import T0
from tests.support.schemas import FINDINGS
from tests.support.standins import (
    WORKER_USAGE,
    Rig,
    make_rig,
    permanent,
    planned_record,
    transient,
    worker_reply,
)

JOB = "job-1"
NODE = "worker1@host"
BUDGET_STOP = "budget_exceeded: the job's limit was reached before this subtask could run"
DEADLINE_STOP = "deadline_exceeded: the job's limit was reached before this subtask could run"


@pytest.fixture
def rig() -> Rig:
    rig = make_rig()
    rig.store.put(planned_record())  # the job owns subtasks 0-2, as planning would store it
    return rig


def message(
    index: int = 0,
    *,
    budget: Budget | None = None,
    attempts_made: int = 0,
    first_started_at: datetime | None = None,
    last_error: str | None = None,
) -> dict[str, Any]:
    """A run_subtask message as Celery delivers it: the assignment as JSON kwargs."""
    return SubtaskAssignment(
        job_id=JOB,
        task="write a haiku",
        context={"tone": "dry"},
        subtask=Subtask(index=index, type=f"t{index}", description=f"d{index}"),
        model="worker-model",
        max_tokens=500,
        budget=budget or Budget(),
        attempts_made=attempts_made,
        first_started_at=first_started_at,
        last_error=last_error,
    ).model_dump(mode="json")


def spend(rig: Rig, tokens: int, usd: float) -> None:
    """Spend on the job's ledger, as another subtask's recorded result would add it."""
    usage = Usage(input_tokens=tokens, cost_usd=usd)
    rig.store.save_result(
        JOB,
        SubtaskResult(
            index=99,
            type="other",
            description="d",
            status=SubtaskStatus.SUCCEEDED,
            usage=usage,
            finished_at=T0,
        ),
    )


def run(rig: Rig, body: dict[str, Any], node: str | None = NODE) -> SubtaskResult | Refused:
    return execute(rig.deps, body, node=node)


def ok(outcome: SubtaskResult | Refused) -> SubtaskResult:
    assert isinstance(outcome, SubtaskResult), outcome
    return outcome


# -- success ------------------------------------------------------------------------------


def test_a_success_is_stored_with_attempts_model_usage_node_and_times(rig: Rig) -> None:
    rig.model.before_call = lambda method: rig.clock.advance(3)
    result = ok(run(rig, message()))
    assert result.status is SubtaskStatus.SUCCEEDED
    assert (result.index, result.type, result.description) == (0, "t0", "d0")
    assert result.output == "t0: done" and result.error is None
    assert result.attempts == 1 and result.model == "worker-model"
    assert result.usage == WORKER_USAGE and result.worker == NODE
    assert result.started_at == T0 and result.finished_at == T0 + timedelta(seconds=3)
    assert rig.store.results(JOB) == {0: result}
    assert rig.store.control(JOB).spent_tokens == WORKER_USAGE.total_tokens
    assert rig.model.subtask_calls == [SubtaskAssignment.model_validate(message())]
    assert rig.events.kinds() == [EventKind.SUBTASK_STARTED, EventKind.SUBTASK_FINISHED]
    finished = rig.events.emitted[1].data
    assert {k: finished[k] for k in ("index", "type", "status")} == {
        "index": 0,
        "type": "t0",
        "status": "succeeded",
    }
    assert finished["tokens"] == WORKER_USAGE.total_tokens and finished["attempts"] == 1
    assert not rig.store.retries


def test_the_limiter_is_asked_for_the_calls_estimated_cost(rig: Rig) -> None:
    run(rig, message())
    [(model, cost)] = rig.limiter.calls
    assert model == "worker-model" and cost.output_tokens == 500
    assert cost.input_tokens == estimate_input_tokens("write a haiku", "{'tone': 'dry'}", "d0")


def test_subtask_started_is_announced_with_the_attempt_number_before_the_call(
    rig: Rig,
) -> None:
    seen: list[list[EventKind]] = []
    rig.model.before_call = lambda method: seen.append(rig.events.kinds())
    run(rig, message(attempts_made=1, first_started_at=T0))
    assert seen == [[EventKind.SUBTASK_STARTED]]
    started = rig.events.emitted[0]
    assert started.job_id == JOB
    assert started.data == {"index": 0, "type": "t0", "attempt": 2}


def test_a_truncated_reply_succeeds_with_a_note(rig: Rig) -> None:
    rig.model.subtasks.append(worker_reply("half a hai", truncated=True))
    result = ok(run(rig, message()))
    assert result.status is SubtaskStatus.SUCCEEDED and result.output == "half a hai"
    assert result.error == "output truncated at max_tokens"


def test_a_reply_that_is_one_response_element_is_stored_as_its_inner_text(rig: Rig) -> None:
    rig.model.subtasks.append(worker_reply("<response>\nThe copy.\n</response>"))
    assert ok(run(rig, message())).output == "The copy."


def test_without_a_node_the_result_names_no_worker(rig: Rig) -> None:
    assert ok(run(rig, message(), node=None)).worker is None


# -- redelivery and first writer wins -----------------------------------------------------


def test_a_redelivery_returns_the_stored_result_and_calls_no_model(rig: Rig) -> None:
    first = ok(run(rig, message()))
    events = list(rig.events.emitted)
    rig.model.subtasks.append(worker_reply("a different answer"))
    again = ok(run(rig, message(), node="other@host"))
    assert again == first
    assert len(rig.model.subtask_calls) == 1 and len(rig.limiter.calls) == 1
    assert rig.events.emitted == events  # nothing started, nothing finished twice
    assert rig.store.control(JOB).spent_tokens == WORKER_USAGE.total_tokens


def test_the_first_writer_wins_when_another_delivery_records_during_the_call(
    rig: Rig,
) -> None:
    # A duplicate delivery (e.g. handed back by a dying worker) finished while this one waited
    # for the model: this one's result is dropped and the first one is returned.
    theirs = SubtaskResult(
        index=0, type="t0", description="d0", status=SubtaskStatus.SUCCEEDED,
        output="theirs", usage=Usage(input_tokens=1), finished_at=T0, worker="w2",
    )  # fmt: skip

    def another_delivery_records(method: str) -> None:
        rig.store.save_result(JOB, theirs)

    rig.model.before_call = another_delivery_records
    result = ok(run(rig, message()))
    assert result == theirs
    assert rig.store.results(JOB) == {0: theirs}
    assert rig.store.control(JOB).spent_tokens == 1  # only the first write's spend
    assert rig.events.kinds().count(EventKind.SUBTASK_FINISHED) == 1


# -- cancelled, over budget, past the deadline --------------------------------------------


def test_a_cancelled_job_skips_the_subtask_without_a_model_call(rig: Rig) -> None:
    rig.store.put(planned_record())
    rig.store.cancel(JOB)
    # A spent budget too: cancellation is the reason given.
    result = ok(run(rig, message(budget=Budget(deadline_at=T0))))
    assert result.status is SubtaskStatus.SKIPPED
    assert result.error == "cancelled by request"
    assert result.attempts == 0 and result.output is None and result.worker == NODE
    assert rig.model.calls == 0 and rig.limiter.calls == []
    assert EventKind.SUBTASK_STARTED not in rig.events.kinds()
    assert rig.store.results(JOB) == {0: result}


@pytest.mark.parametrize(
    ("budget", "tokens", "usd", "reason"),
    [
        (Budget(max_total_tokens=100), 100, 0.0, BUDGET_STOP),
        (Budget(max_total_tokens=100), 250, 0.0, BUDGET_STOP),
        (Budget(max_cost_usd=0.5), 0, 0.5, BUDGET_STOP),
        (Budget(deadline_at=T0), 0, 0.0, DEADLINE_STOP),
        (Budget(deadline_at=T0 - timedelta(seconds=1), max_total_tokens=1), 5, 0.0, DEADLINE_STOP),
    ],
    ids=["tokens-reached", "tokens-passed", "cost", "deadline", "deadline-first"],
)
def test_a_spent_budget_or_passed_deadline_skips_the_subtask_with_the_reason(
    rig: Rig, budget: Budget, tokens: int, usd: float, reason: str
) -> None:
    spend(rig, tokens, usd)
    result = ok(run(rig, message(budget=budget, attempts_made=2, first_started_at=T0)))
    assert result.status is SubtaskStatus.SKIPPED and result.error == reason
    assert result.attempts == 2  # the attempts made before, none now
    assert rig.model.calls == 0 and rig.store.results(JOB)[0] == result


def test_a_budget_not_yet_reached_lets_the_subtask_run(rig: Rig) -> None:
    spend(rig, 99, 0.49)
    budget = Budget(max_total_tokens=100, max_cost_usd=0.5, deadline_at=T0 + timedelta(seconds=1))
    result = ok(run(rig, message(budget=budget)))
    assert result.status is SubtaskStatus.SUCCEEDED and rig.model.calls == 1


# -- the rate limiter ---------------------------------------------------------------------


def test_short_limiter_waits_are_slept_through(rig: Rig) -> None:
    rig.limiter.waits.extend([1.5, 0.5])  # 2 s in all: the most a worker sleeps in place
    result = ok(run(rig, message()))
    assert result.status is SubtaskStatus.SUCCEEDED
    assert rig.sleep.calls == [1.5, 0.5] and not rig.store.retries


@pytest.mark.parametrize(
    ("waits", "first_started_at", "wait_left"),
    [([3.0], None, 3.0), ([1.5, 1.0], None, 1.0), ([9.0], T0 - timedelta(minutes=5), 9.0)],
)
def test_a_throttled_subtask_is_requeued_without_spending_an_attempt(
    rig: Rig, waits: list[float], first_started_at: datetime | None, wait_left: float
) -> None:
    rig.limiter.waits.extend(waits)
    body = message(attempts_made=1, first_started_at=first_started_at, last_error="overloaded")
    with pytest.raises(RetryLater) as caught:
        run(rig, body)
    assert wait_left <= caught.value.countdown <= wait_left + 0.5
    assert caught.value.reason == "rate limit"
    requeued = SubtaskAssignment.model_validate(caught.value.kwargs)
    expected = SubtaskAssignment.model_validate(body).model_copy(
        update={"first_started_at": first_started_at or T0}
    )
    assert requeued == expected  # attempts_made and last_error unchanged
    assert rig.store.retries == {"subtask_throttled": 1}
    assert rig.model.calls == 0 and rig.events.emitted == [] and rig.store.results(JOB) == {}


# -- model failures -----------------------------------------------------------------------


def test_a_retryable_error_asks_for_a_retry_carrying_the_subtasks_story(rig: Rig) -> None:
    rig.model.subtasks.append(transient("overloaded"))
    with pytest.raises(RetryLater) as caught:
        run(rig, message())
    assert 0 <= caught.value.countdown <= 1.0 and caught.value.reason == "overloaded"
    kwargs = caught.value.kwargs
    assert kwargs is not None
    assert kwargs == {
        **message(),
        "attempts_made": 1,
        "last_error": "overloaded",
        "first_started_at": T0.isoformat().replace("+00:00", "Z"),
    }
    assert rig.store.retries == {"subtask": 1}
    assert rig.store.results(JOB) == {}
    assert rig.events.kinds() == [EventKind.SUBTASK_STARTED]

    # The next delivery runs with those kwargs: attempt 2, started when the first one did.
    rig.clock.advance(10)
    result = ok(run(rig, kwargs))
    assert result.status is SubtaskStatus.SUCCEEDED
    assert result.attempts == 2 and result.started_at == T0
    assert result.finished_at == T0 + timedelta(seconds=10)
    assert rig.events.emitted[1].data["attempt"] == 2


def test_retry_after_is_honoured_as_a_floor(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: low)
    rig.model.subtasks.append(transient(retry_after_s=2.5))
    with pytest.raises(RetryLater) as caught:
        run(rig, message())
    assert caught.value.countdown == 2.5


def test_a_retryable_error_on_the_last_attempt_stores_a_failed_result(rig: Rig) -> None:
    rig.model.subtasks.append(transient("overloaded"))
    first = T0 - timedelta(seconds=30)
    result = ok(run(rig, message(attempts_made=2, first_started_at=first)))
    assert result.status is SubtaskStatus.FAILED and result.error == "overloaded"
    assert result.attempts == 3 and result.model == "worker-model"
    assert result.started_at == first and result.usage == Usage() and result.worker == NODE
    assert rig.store.results(JOB) == {0: result}
    assert not rig.store.retries
    last = rig.events.emitted[-1].data
    assert (last["index"], last["type"], last["status"], last["attempts"]) == (0, "t0", "failed", 3)


def test_a_permanent_error_stores_a_failed_result_at_once(rig: Rig) -> None:
    rig.model.subtasks.append(permanent("model endpoint answered 400: too long"))
    result = ok(run(rig, message()))
    assert result.status is SubtaskStatus.FAILED
    assert result.error == "model endpoint answered 400: too long" and result.attempts == 1
    assert not rig.store.retries and len(rig.model.subtask_calls) == 1


def test_an_unexpected_error_stores_a_failed_result_naming_only_its_class(rig: Rig) -> None:
    rig.model.subtasks.append(ValueError("secret internals"))
    result = ok(run(rig, message()))
    assert result.status is SubtaskStatus.FAILED
    assert result.error == "internal error: ValueError" and result.attempts == 1
    assert rig.store.results(JOB)[0] == result and not rig.store.retries


# -- malformed messages -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({k: v for k, v in message().items() if k != "model"}, "model: Field required"),
        ({**message(), "max_tokens": 0}, "max_tokens: Input should be greater than or equal"),
        ({**message(), "subtask": {"index": 0}}, "subtask.type: Field required"),
    ],
)
def test_a_malformed_message_naming_a_subtask_stores_it_as_failed(
    rig: Rig, body: dict[str, Any], named: str
) -> None:
    result = ok(run(rig, body))
    assert result.status is SubtaskStatus.FAILED and result.attempts == 0
    assert result.error is not None
    assert result.error.startswith("invalid subtask message: ") and named in result.error
    assert result.index == 0
    assert (result.type, result.description) == (
        body["subtask"].get("type", ""),
        body["subtask"].get("description", ""),
    )
    assert rig.store.results(JOB) == {0: result}
    assert rig.model.calls == 0 and rig.limiter.calls == []
    assert rig.events.kinds() == [EventKind.SUBTASK_FINISHED]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"job_id": JOB},
        {"job_id": JOB, "subtask": "not an object"},
        {"job_id": JOB, "subtask": {"index": -1}},
        {"job_id": JOB, "subtask": {"index": "0"}},
        {"job_id": 7, "subtask": {"index": 0}},
    ],
)
def test_a_malformed_message_naming_no_subtask_is_refused_and_stores_nothing(
    rig: Rig, body: dict[str, Any]
) -> None:
    refused = run(rig, body)
    assert isinstance(refused, Refused) and refused.reason
    assert rig.store.results(JOB) == {} and rig.store.control(JOB).spent_tokens == 0
    assert rig.events.emitted == [] and rig.model.calls == 0


# -- typed outputs ------------------------------------------------------------------------

FINDING = {"severity": "low", "file": "a.py", "line": 1, "problem": "p", "fix": "f"}


def typed(**fields: Any) -> dict[str, Any]:
    return {**message(**fields), "output_schema": FINDINGS}


def test_a_typed_reply_is_kept_as_text_and_parsed_into_data(rig: Rig) -> None:
    text = json.dumps({"findings": [FINDING]})
    rig.model.subtasks.append(worker_reply(text))
    result = ok(run(rig, typed()))
    assert result.status is SubtaskStatus.SUCCEEDED and result.error is None
    assert result.output == text and result.data == {"findings": [FINDING]}
    assert rig.model.repairs == [None]


def test_a_reply_off_the_schema_gets_one_repair_round_that_sees_why(rig: Rig) -> None:
    good = json.dumps({"findings": [FINDING]})
    rig.model.subtasks.extend([worker_reply("not json"), worker_reply(good)])
    result = ok(run(rig, typed()))
    assert result.status is SubtaskStatus.SUCCEEDED and result.data == {"findings": [FINDING]}
    first, repair = rig.model.repairs
    assert first is None and repair is not None
    assert repair.reply == "not json" and repair.problem.startswith("the reply is not JSON")
    assert result.usage == WORKER_USAGE + WORKER_USAGE  # both calls are on the record


def test_a_typed_reply_cut_off_at_max_tokens_fails_naming_the_cause_without_a_repair(
    rig: Rig,
) -> None:
    rig.model.subtasks.extend([worker_reply('{"findings": [', truncated=True), worker_reply("{}")])
    result = ok(run(rig, typed()))
    assert result.status is SubtaskStatus.FAILED and result.output == '{"findings": ['
    assert result.error is not None
    assert result.error.startswith("output_schema: the reply was cut off at max_tokens")
    assert "raise worker_max_tokens" in result.error
    assert len(rig.model.subtask_calls) == 1 and result.usage == WORKER_USAGE


def test_still_off_the_schema_after_the_repair_fails_the_subtask_keeping_the_output(
    rig: Rig,
) -> None:
    wrong = json.dumps({"findings": [{**FINDING, "line": "one"}]})
    rig.model.subtasks.extend([worker_reply("{}"), worker_reply(wrong)])
    result = ok(run(rig, typed()))
    assert result.status is SubtaskStatus.FAILED and result.data is None
    assert result.output == wrong  # paid for: kept
    assert result.error is not None
    assert result.error.startswith("output_schema: the reply does not match: at /findings/0/line")
    assert result.error.endswith("(after 1 repair round)")
    assert len(rig.model.subtask_calls) == 2 and result.usage == WORKER_USAGE + WORKER_USAGE


def test_a_result_is_saved_under_the_jobs_tenant_for_the_fleets_counters(rig: Rig) -> None:
    ok(run(rig, {**message(), "tenant": "alice"}))
    assert rig.store.saved_for_tenants == ["alice"]
