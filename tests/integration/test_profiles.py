"""Profiles on real processes: each built-in one runs its job end to end, a bare Celery client
can name one, the API lists and shows them and keeps tenants to them when inline prompts are
off, and a broken profile file stops every process before it starts, naming file and field."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from chorus.contract import names
from chorus.contract.models import JobStatus, SubtaskStatus
from chorus.core.outputs import validation_problem
from chorus.runtime.app import ChorusCelery
from chorus.store.jobs import JobStore, wait_for_job
from tests.support.api_server import idle_api, run_cli
from tests.support.hostile_checks import enqueued_state
from tests.support.runner import JobRunner

WATER_BOTTLE = "Write a product description for a new eco-friendly water bottle"
DIFF = "--- a/app.py\n+++ b/app.py\n@@ -1 +1,2 @@\n-x = 1\n+x = eval(input())\n+print(x)\n"
IDLE_DB = 14  # no orchestrator consumes it: anything enqueued by mistake stays visible


def test_marketing_variations_runs_the_notebooks_job(jobs: JobRunner) -> None:
    context = {"target_audience": "environmentally conscious millennials"}
    record = jobs.run(WATER_BOTTLE, context=context, options={"profile": "marketing-variations"})
    assert record.status is JobStatus.SUCCEEDED, record.error
    assert record.request.options.profile == "marketing-variations"
    assert set(record.prompt_hashes) == {"orchestrator", "worker"}
    assert all(r.output and "<response>" not in r.output for r in record.results)


def test_code_review_returns_typed_findings(jobs: JobRunner) -> None:
    record = jobs.run(
        "Review this change.", context={"diff": DIFF}, options={"profile": "code-review"}
    )
    assert record.status is JobStatus.SUCCEEDED, record.error
    schema = record.request.options.output_schema
    assert schema is not None
    for result in record.results:
        assert result.status is SubtaskStatus.SUCCEEDED
        assert result.data is not None and validation_problem(result.data, schema) is None
    # The profile's tiers: the planner put the concerns on both, each result on its model,
    # priced as that model.
    assert record.plan is not None and {s.tier for s in record.plan.subtasks} == {"fast", "strong"}
    tiers = record.request.options.tiers or {}
    for subtask, result in zip(record.plan.subtasks, record.results, strict=True):
        assert result.model == tiers[subtask.tier or ""]
    assert {r.model for r in record.results} == {"claude-haiku-5-5", "claude-sonnet-5-5"}


def test_a_research_brief_ends_in_a_synthesis(jobs: JobRunner) -> None:
    record = jobs.run(
        "Should a 20-person company move its CI to self-hosted runners?",
        context={"reader": "the CTO"},
        options={"profile": "research-brief", "max_subtasks": 3},
    )
    assert record.status is JobStatus.SUCCEEDED, record.error
    assert record.request.options.synthesize and record.synthesis
    assert 1 <= len(record.results) <= 3  # given inline: wins over the profile's 4


def test_a_bare_celery_client_can_name_a_profile(client_app: ChorusCelery, store: JobStore) -> None:
    client_app.send_task(
        names.RUN_JOB_TASK,
        kwargs={"task": "Is remote work here to stay?", "options": {"profile": "research-brief"}},
        task_id="bare-profile-job",
        queue=names.ORCHESTRATOR_QUEUE,
    )
    record = wait_for_job(store, "bare-profile-job", timeout_s=60)
    assert record.status is JobStatus.SUCCEEDED
    assert record.request.options.synthesize and record.synthesis  # the profile's fields
    assert set(record.prompt_hashes) == {"orchestrator", "worker", "synthesis"}


@pytest.fixture
def strict_api(redis_url: str, workdir: Path) -> Iterator[tuple[str, redis.Redis]]:
    """The API with inline prompts turned off, on a database no orchestrator consumes."""
    log = workdir / "profiles-api.log"
    with idle_api(redis_url, IDLE_DB, log, {"CHORUS_INLINE_PROMPTS": "false"}) as (_, url, db):
        yield url, db


def test_the_api_lists_and_shows_profiles(strict_api: tuple[str, redis.Redis]) -> None:
    url, _ = strict_api
    listed = httpx.get(f"{url}/v1/profiles", timeout=10).json()
    assert {p["name"] for p in listed} == {"code-review", "marketing-variations", "research-brief"}
    shown = httpx.get(f"{url}/v1/profiles/code-review", timeout=10).json()
    assert (
        shown["output_schema"]["required"] == ["findings"]
        and "{diff}" in shown["prompts"]["worker"]
    )
    missing = httpx.get(f"{url}/v1/profiles/nope", timeout=10)
    assert missing.status_code == 404 and "known: code-review" in missing.json()["error"]


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"profile": "nope"}, "options.profile: no profile 'nope' (known: code-review"),
        ({"prompts": {"worker": "{task}"}}, "options.prompts: inline prompts and schemas are"),
        ({"profile": "code-review"}, "{diff} is not a variable"),  # the job brings no diff
    ],
)
def test_the_api_refuses_what_profiles_do_not_allow_and_enqueues_nothing(
    strict_api: tuple[str, redis.Redis], options: dict[str, object], named: str
) -> None:
    url, client = strict_api
    before = enqueued_state(client)
    response = httpx.post(f"{url}/v1/jobs", json={"task": "t", "options": options}, timeout=10)
    assert response.status_code == 422 and named in response.json()["error"]
    assert enqueued_state(client) == before
    accepted = httpx.post(
        f"{url}/v1/jobs",
        json={"task": "t", "context": {"diff": DIFF}, "options": {"profile": "code-review"}},
        timeout=10,
    )
    assert accepted.status_code == 202


def test_a_broken_profile_stops_every_process_naming_file_and_field(
    redis_url: str, tmp_path: Path
) -> None:
    (tmp_path / "triage.yaml").write_text("description: Support triage\nmax_subtask: 3\n")
    env = {**os.environ, "REDIS_URL": redis_url, "CHORUS_PROFILES_DIR": str(tmp_path)}
    for args in (["api", "--port", "1"], ["worker"], ["orchestrator"], ["profiles"]):
        done = run_cli(env, *args)
        assert done.returncode == 2, (args, done.stderr)
        assert f"{tmp_path / 'triage.yaml'}: max_subtask: Extra inputs" in done.stderr
        assert "Traceback" not in done.stderr
    (tmp_path / "triage.yaml").write_text("description: Support triage\nmax_subtasks: 3\n")
    listed = run_cli(env, "profiles")
    assert listed.returncode == 0 and "triage: Support triage" in listed.stdout
