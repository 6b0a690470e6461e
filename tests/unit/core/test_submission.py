"""What makes two submissions the same job, the id an API tenant's chosen job id is stored
under, and the job id limit every wire model applies."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from chorus.contract.models import JobRequest, SubtaskAssignment, job_id_problem
from chorus.core.submission import fingerprint, same_job, tenant_job_id

RULE = "job_id must be 1-128 letters, digits or _.:- characters"


def test_the_fingerprint_ignores_the_id_and_tenant_but_not_the_request() -> None:
    base = JobRequest(task="t", context={"a": 1})
    assert fingerprint(base) == fingerprint(base.model_copy(update={"job_id": "x", "tenant": "y"}))
    assert fingerprint(base) != fingerprint(base.model_copy(update={"task": "u"}))
    # Defaults spelled out or left out are the same request.
    assert fingerprint(JobRequest(task="t")) == fingerprint(
        JobRequest.model_validate({"task": "t", "context": {}, "options": {"max_subtasks": 5}})
    )


def test_the_same_job_needs_the_same_tenant_too() -> None:
    mine = JobRequest(task="t", tenant="alice")
    assert same_job(mine, mine.model_copy(update={"job_id": "j"}))
    assert not same_job(mine, mine.model_copy(update={"tenant": "bob"}))


def test_a_tenants_chosen_id_is_its_own() -> None:
    assert tenant_job_id("alice", "report-1") == "alice:report-1"
    assert tenant_job_id("alice", "report-1") != tenant_job_id("bob", "report-1")
    # No tenant has a colon, so one tenant's id never reads as another's.
    assert tenant_job_id("alice", "bob:x") != tenant_job_id("bob", "x")


def test_a_long_chosen_id_still_fits_and_stays_distinct() -> None:
    tenant = "t" * 64
    a, b = "a" * 127 + "1", "a" * 127 + "2"
    scoped = {tenant_job_id(tenant, a), tenant_job_id(tenant, b)}
    assert len(scoped) == 2
    for job_id in scoped:
        assert len(job_id) == 128 and job_id_problem(job_id) is None
        assert job_id.startswith(f"{tenant}:aaa")


@pytest.mark.parametrize("job_id", ["x" * 129, "x" * 5000, "", " x", "a b", None, 7])
def test_job_ids_outside_the_rule_are_refused(job_id: object) -> None:
    assert job_id_problem(job_id) == RULE


def test_the_limit_is_128_characters() -> None:
    assert job_id_problem("x" * 128) is None


def assignment(job_id: str) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "task": "t",
        "subtask": {"index": 0, "type": "a", "description": "d"},
        "model": "m",
        "max_tokens": 1,
    }


@pytest.mark.parametrize("model", [JobRequest, SubtaskAssignment])
def test_every_wire_model_carrying_a_job_id_refuses_a_long_one(model: Any) -> None:
    long_id = "x" * 5000
    body = assignment(long_id) if model is SubtaskAssignment else {"task": "t", "job_id": long_id}
    with pytest.raises(pydantic.ValidationError, match="job_id must be 1-128"):
        model.model_validate(body)
