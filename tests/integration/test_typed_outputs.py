"""Typed outputs on real processes: a code review whose every finding validates against the
job's schema, and a reply off the schema that gets its repair round and then fails that one
subtask alone, its text kept."""

from __future__ import annotations

import json

from chorus.contract.models import JobStatus, SubtaskStatus
from chorus.core.outputs import validation_problem
from tests.support.runner import JobRunner
from tests.support.schemas import FINDINGS
from tests.support.simulator_control import SimulatorControl

TASK = "Review this change for security, performance and readability problems."
CONTEXT = {"diff": "--- a/app.py\n+++ b/app.py\n@@ -1 +1 @@\n-x = 1\n+x = eval(input())\n"}
OPTIONS = {"max_subtasks": 3, "output_schema": FINDINGS}


def test_a_typed_code_review_returns_data_that_validates(
    jobs: JobRunner, sim: SimulatorControl
) -> None:
    record = jobs.run(TASK, context=CONTEXT, options=OPTIONS)

    assert record.status is JobStatus.SUCCEEDED, record.error
    for result in record.results:
        assert result.data is not None and validation_problem(result.data, FINDINGS) is None
        assert json.loads(result.output or "") == result.data
    # One call per subtask: every reply matched at once (no repair round was needed).
    assert sim.stats()["requests_total"] == 1 + len(record.results)


def test_a_reply_off_the_schema_is_repaired_once_then_fails_that_subtask_alone(
    jobs: JobRunner, sim: SimulatorControl
) -> None:
    first = jobs.run(TASK, context=CONTEXT, options=OPTIONS)  # the simulator's plan for it
    assert first.plan is not None and len(first.plan.subtasks) >= 2
    target = first.plan.subtasks[0]
    sim.reset()
    sim.set_faults([{"match": json.dumps(target.type), "body": "Sorry, no JSON today."}])

    record = jobs.run(TASK, context=CONTEXT, options=OPTIONS)

    assert record.status is JobStatus.PARTIAL
    failed, *others = record.results
    assert failed.type == target.type and failed.status is SubtaskStatus.FAILED
    assert failed.output == "Sorry, no JSON today." and failed.data is None
    assert failed.error is not None and failed.error.startswith(
        "output_schema: the reply is not JSON"
    )
    assert failed.error.endswith("(after 1 repair round)")
    assert all(r.status is SubtaskStatus.SUCCEEDED and r.data for r in others)
    worker_calls = sim.stats()["requests_total"] - 1
    assert worker_calls == len(others) + 2  # the failing subtask: its call and one repair
