"""A job's own prompts, end to end on real processes: the notebook's two templates pasted
verbatim run the water-bottle job, the task and context land where the templates put them,
`<response>` is stripped, braces in user text stay literal, and a template that reaches for
anything but a plain variable is refused at every door with nothing enqueued."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from chorus.contract.models import JobStatus, SubtaskStatus
from tests.support.api_server import idle_api, run_cli
from tests.support.hostile_checks import enqueued_state
from tests.support.runner import JobRunner
from tests.support.simulator_control import SimulatorControl

# From the well-known orchestrator-workers notebook, verbatim.
ORCHESTRATOR_PROMPT = """
Analyze this task and break it down into 2-3 distinct approaches:

Task: {task}

Return your response in this format:

<analysis>
Explain your understanding of the task and which variations would be valuable.
Focus on how each approach serves different aspects of the task.
</analysis>

<tasks>
    <task>
    <type>formal</type>
    <description>Write a precise, technical version that emphasizes specifications</description>
    </task>
    <task>
    <type>conversational</type>
    <description>Write an engaging, friendly version that connects with readers</description>
    </task>
</tasks>
"""

WORKER_PROMPT = """
Generate content based on:
Task: {original_task}
Style: {task_type}
Guidelines: {task_description}

Return your response in this format:

<response>
Your content here, maintaining the specified style and fully addressing requirements.
</response>
"""

TASK = "Write a product description for a new eco-friendly water bottle"
CONTEXT = {
    "target_audience": "environmentally conscious millennials",
    "key_features": ["plastic-free", "insulated", "lifetime warranty"],
}
NOTEBOOK = {"orchestrator": ORCHESTRATOR_PROMPT, "worker": WORKER_PROMPT}
IDLE_DB = 13  # no orchestrator consumes it: anything enqueued by mistake stays visible


def test_the_notebooks_prompts_run_the_water_bottle_job(
    jobs: JobRunner, sim: SimulatorControl
) -> None:
    record = jobs.run(TASK, context=CONTEXT, options={"max_subtasks": 3, "prompts": NOTEBOOK})

    assert record.status is JobStatus.SUCCEEDED, record.error
    assert record.plan is not None and 1 <= len(record.results) <= 3
    sent = [r["text"] for r in sim.requests()]
    assert sum(ORCHESTRATOR_PROMPT.replace("{task}", TASK) in text for text in sent) == 1
    for result in record.results:
        assert result.status is SubtaskStatus.SUCCEEDED and result.output
        rendered = WORKER_PROMPT.format(
            original_task=TASK, task_type=result.type, task_description=result.description
        )
        assert sum(text == rendered for text in sent) == 1, "the worker prompt as rendered"
        assert "<response>" not in result.output and "</response>" not in result.output
    # The template is the instruction; the plan still came back through Chorus's schema.
    assert len(sent) == 1 + len(record.results)


def test_braces_in_user_text_stay_literal(jobs: JobRunner, sim: SimulatorControl) -> None:
    task = "Explain {x}, {{y}} and {task} in Python"
    context = {"level": "beginner {level}"}
    prompts = {
        "orchestrator": "Plan {max_subtasks} parts of: {task} ({level}) {{braces}}",
        "worker": "Do {task_type} for {original_task} at {level}",
    }
    record = jobs.run(task, context=context, options={"max_subtasks": 2, "prompts": prompts})

    assert record.status is JobStatus.SUCCEEDED, record.error
    sent = [r["text"] for r in sim.requests()]
    expected = (
        "Plan 2 parts of: Explain {x}, {{y}} and {task} in Python (beginner {level}) {braces}"
    )
    assert any(expected in text for text in sent)
    assert any(
        text == f"Do {r.type} for {task} at beginner {{level}}"
        for r in record.results
        for text in sent
    )


@pytest.fixture
def api_on_idle_db(redis_url: str, workdir: Path) -> Iterator[tuple[str, redis.Redis]]:
    with idle_api(redis_url, IDLE_DB, workdir / "templates-api.log") as (_, url, client):
        yield url, client


@pytest.mark.parametrize(
    ("worker", "named"),
    [
        ("Style: {task.__class__}", "{task.__class__}: only plain variable names"),
        ("Style: {nope}", "{nope} is not a variable of this template"),
        ("Style: {context[0]}", "{context[0]}: only plain variable names"),
        ("Style: {task_type!r}", "{task_type!r}: no conversions or format specs"),
    ],
)
def test_a_bad_template_is_a_422_naming_it_and_nothing_is_enqueued(
    api_on_idle_db: tuple[str, redis.Redis], worker: str, named: str
) -> None:
    url, client = api_on_idle_db
    before = enqueued_state(client)
    body = {"task": TASK, "options": {"prompts": {"worker": worker}}}
    response = httpx.post(f"{url}/v1/jobs", json=body, timeout=10)
    assert response.status_code == 422
    message = response.json()["error"]
    assert f"options.prompts.worker: {named}" in message and "Traceback" not in message
    assert enqueued_state(client) == before


def test_the_cli_takes_a_prompts_file_and_refuses_a_bad_one(redis_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "prompts.yaml"
    bad.write_text("worker: |\n  Style: {task.__class__} and {nope}\n")
    env = {**os.environ, "REDIS_URL": redis_url.rsplit("/", 1)[0] + f"/{IDLE_DB}"}
    done = run_cli(env, "submit", TASK, "--prompts-file", str(bad))
    assert done.returncode == 2, done.stderr
    assert "options.prompts.worker: {task.__class__}" in done.stderr
    assert "{nope} is not a variable" in done.stderr and "Traceback" not in done.stderr


def test_the_cli_takes_an_output_schema_file_and_names_what_is_wrong(
    redis_url: str, tmp_path: Path
) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text('{"type": "object", "properties": {"a": {"if": {}}}}')
    env = {**os.environ, "REDIS_URL": redis_url.rsplit("/", 1)[0] + f"/{IDLE_DB}"}
    done = run_cli(env, "submit", TASK, "--output-schema", str(schema))
    assert done.returncode == 2, done.stderr
    assert "options.output_schema: /properties/a uses if" in done.stderr
