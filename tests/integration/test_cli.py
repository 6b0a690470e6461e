"""The `chorus` CLI against the running stack: submit --wait --json, status, result."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from chorus.contract.models import JobRecord, JobStatus
from chorus.devstack.stack import LocalStack
from tests.support.simulator_control import SimulatorControl


def run_cli(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chorus.cli", *args],
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_submit_wait_json_prints_the_record_and_exits_by_status(
    chorus_stack: LocalStack, sim: SimulatorControl
) -> None:
    done = run_cli(
        chorus_stack, "submit", "Suggest names for a bakery.", "--context", '{"city": "Lyon"}',
        "--max-subtasks", "2", "--wait", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = JobRecord.model_validate_json(done.stdout)
    assert record.status is JobStatus.SUCCEEDED
    assert record.request.context == {"city": "Lyon"}

    status = run_cli(chorus_stack, "status", record.job_id)
    assert status.returncode == 0
    assert "succeeded" in status.stdout

    result = run_cli(chorus_stack, "result", record.job_id, "--json")
    assert JobRecord.model_validate_json(result.stdout) == record


def test_submit_wait_json_exits_1_when_the_job_is_partial(
    chorus_stack: LocalStack, sim: SimulatorControl
) -> None:
    sim.set_faults([{"match": "<subtask>", "status": 400, "times": 1}])
    done = run_cli(
        chorus_stack, "submit", "Explain tides.", "--max-subtasks", "3", "--wait", "--json"
    )
    assert done.returncode == 1, done.stderr
    assert JobRecord.model_validate_json(done.stdout).status is JobStatus.PARTIAL


def test_unknown_job_is_a_clear_error(chorus_stack: LocalStack) -> None:
    done = run_cli(chorus_stack, "status", "no-such-job")
    assert done.returncode == 1
    assert "no job 'no-such-job'" in done.stderr
    assert "Traceback" not in done.stderr


def test_follow_shows_progress_then_jobs_lists_it_and_cancel_is_clear(
    chorus_stack: LocalStack, sim: SimulatorControl
) -> None:
    done = run_cli(chorus_stack, "submit", "Plan a picnic.", "--max-subtasks", "2", "--follow")
    assert done.returncode == 0, done.stderr
    assert "subtasks" in done.stderr and "succeeded" in done.stdout
    job_id = re.search(r"job ([0-9a-f-]{36}) enqueued", done.stderr).group(1)  # type: ignore[union-attr]

    assert re.search(r"cost\s+\$\d+\.\d{4}", done.stdout), done.stdout  # the summary's cost

    # At rich's 80 columns (no terminal here) the id is whole: it is what people copy.
    listed = run_cli(chorus_stack, "jobs", "--limit", "50")
    assert listed.returncode == 0 and job_id in listed.stdout, listed.stdout
    as_json = run_cli(chorus_stack, "jobs", "--limit", "50", "--json")
    assert as_json.returncode == 0, as_json.stderr
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    [mine] = [row for row in rows if row["job_id"] == job_id]
    assert mine["status"] == "succeeded" and mine["subtasks_total"] == 2
    assert mine["tokens"] > 0 and mine["cost_usd"] > 0 and mine["task"] == "Plan a picnic."

    cancelled = run_cli(chorus_stack, "cancel", job_id)
    assert cancelled.returncode == 0 and f"{job_id} succeeded" in cancelled.stdout
