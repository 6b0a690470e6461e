"""The wire contract: every message that crosses a process is one of these pydantic models.

Wire models ignore unknown fields (`extra="ignore"`) so that a newer producer and an older
consumer survive a rolling deploy.
"""

import re
from datetime import datetime
from typing import Any

from pydantic import Field, computed_field, field_validator, model_validator

from chorus.contract import limits
from chorus.contract.caching import CacheUse
from chorus.contract.context import check_context
from chorus.contract.lifecycle import JobRun as JobRun
from chorus.contract.lifecycle import ReviewDecision as ReviewDecision
from chorus.contract.lifecycle import WebhookDelivery as WebhookDelivery
from chorus.contract.options import PROFILE_NAME as PROFILE_NAME
from chorus.contract.options import JobMode
from chorus.contract.options import JobOptions as JobOptions
from chorus.contract.options import ProfileOptions as ProfileOptions
from chorus.contract.states import Budget as Budget
from chorus.contract.states import JobStatus as JobStatus
from chorus.contract.states import SubtaskStatus as SubtaskStatus
from chorus.contract.states import Usage as Usage
from chorus.contract.wire import WireModel as WireModel

_JOB_ID_RE = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_.:-]{{0,{limits.MAX_JOB_ID_CHARS - 1}}}$")
JOB_ID_RULE = f"job_id must be 1-{limits.MAX_JOB_ID_CHARS} letters, digits or _.:- characters"


def job_id_problem(value: object) -> str | None:
    """Why `value` cannot be a job id (None: it can): checked at every door, tasks included."""
    return None if isinstance(value, str) and _JOB_ID_RE.fullmatch(value) else JOB_ID_RULE


def _check_job_id(value: str | None) -> str | None:
    if value is not None and job_id_problem(value):
        raise ValueError(JOB_ID_RULE)
    return value


class JobRequest(WireModel):
    """What a caller submits: `orchestrator.run_job` takes exactly these as JSON kwargs."""

    task: str = Field(max_length=limits.MAX_TASK_CHARS)
    context: dict[str, Any] = Field(default_factory=dict)
    options: JobOptions = Field(default_factory=JobOptions)
    job_id: str | None = None
    tenant: str | None = Field(default=None, pattern=limits.TENANT_PATTERN)  # the API's caller

    @field_validator("task")
    @classmethod
    def _task_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("task must not be empty")
        return value

    _context = field_validator("context", mode="before")(check_context)

    _job_id = field_validator("job_id")(_check_job_id)

    @model_validator(mode="after")
    def _templates_name_known_variables(self) -> "JobRequest":
        # Context keys are variables too, so this needs the whole request.
        prompts = self.options.prompts
        problems = prompts.problems_with(self.context) if prompts is not None else []
        if problems:
            raise ValueError("; ".join(problems))
        return self


class Subtask(WireModel):
    index: int = Field(ge=0)
    type: str = Field(min_length=1, max_length=limits.MAX_SUBTASK_TYPE_CHARS)
    description: str = Field(min_length=1, max_length=limits.MAX_SUBTASK_DESCRIPTION_CHARS)
    # The model tier the planner chose, when the job has tiers.
    tier: str | None = None


class Plan(WireModel):
    analysis: str
    subtasks: list[Subtask] = Field(min_length=1, max_length=limits.HARD_MAX_SUBTASKS)


class SubtaskAssignment(WireModel):
    """The kwargs of `worker.run_subtask`: everything a worker needs, nothing it must look up."""

    job_id: str
    task: str
    context: dict[str, Any] = Field(default_factory=dict)
    subtask: Subtask
    model: str
    max_tokens: int = Field(ge=1, le=limits.MAX_OUTPUT_TOKENS_CAP)
    budget: Budget = Field(default_factory=Budget)
    # The job's worker template and output schema, if it brought them.
    worker_template: str | None = None
    output_schema: dict[str, Any] | None = None
    max_subtasks: int = Field(default=limits.DEFAULT_MAX_SUBTASKS, ge=1)
    # Carried across Celery retries so the record shows the whole story of the subtask.
    attempts_made: int = Field(default=0, ge=0)
    first_started_at: datetime | None = None
    last_error: str | None = None
    # Paid for by earlier attempts without a result (a repair call failed); lands on the result.
    carried_usage: Usage = Field(default_factory=Usage)
    tenant: str | None = Field(default=None, pattern=limits.TENANT_PATTERN)  # spend by tenant
    run: int = Field(default=1, ge=1)  # the job's run this belongs to (a retry adds one)
    # Prompt caching of the shared block (None: not marked) and the job's mode.
    cache: CacheUse | None = None
    mode: JobMode = "normal"
    dispatched_at: datetime | None = None

    _job_id = field_validator("job_id")(_check_job_id)


class SubtaskResult(WireModel):
    index: int = Field(ge=0)
    type: str
    description: str
    status: SubtaskStatus
    output: str | None = None
    # The output parsed, when the job has an output schema and the output matched it.
    data: Any = None
    error: str | None = None
    attempts: int = Field(default=1, ge=0)
    model: str | None = None
    usage: Usage = Field(default_factory=Usage)
    started_at: datetime | None = None
    finished_at: datetime
    # The Celery node that recorded the result (e.g. worker2@host), for tracing a fleet.
    worker: str | None = None
    # The job's run that produced it (1: the first; a retry of what failed adds one).
    run: int = Field(default=1, ge=1)
    # Answered through the Message Batches API (billed at the batch price).
    batched: bool = False
    # How the call used the prompt cache (CacheUse.reason), when its shared block was marked.
    cache: str | None = None


class JobRecord(WireModel):
    """The results record of one job, stored as JSON under `chorus:job:<job_id>`."""

    job_id: str
    status: JobStatus
    request: JobRequest
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    orchestrator_model: str
    worker_model: str
    plan: Plan | None = None
    results: list[SubtaskResult] = Field(default_factory=list)
    planning_usage: Usage = Field(default_factory=Usage)
    usage: Usage = Field(default_factory=Usage)
    error: str | None = None
    synthesis: str | None = None
    synthesis_data: Any = None
    synthesis_error: str | None = None
    synthesis_usage: Usage = Field(default_factory=Usage)
    simulated: bool = False
    # sha256 of each template the job ran with; its profile is `request.options.profile`.
    prompt_hashes: dict[str, str] = Field(default_factory=dict)
    # Each run of the job (a retry of what failed adds one) and the results a retry replaced.
    runs: list[JobRun] = Field(default_factory=list)
    earlier_results: list[SubtaskResult] = Field(default_factory=list)
    review: ReviewDecision | None = None
    # When the plan began to wait for a person (options.review_plan): the review timeout runs
    # from here, whatever else touches the record meanwhile.
    review_requested_at: datetime | None = None
    webhook_deliveries: list[WebhookDelivery] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def subtasks_total(self) -> int:
        return len(self.plan.subtasks) if self.plan else 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def subtasks_failed(self) -> int:
        return sum(1 for r in self.results if r.status is SubtaskStatus.FAILED)


def describe_validation_error(error: Exception) -> str:
    """One line a person can act on, naming each field at fault (no stack trace, no input echo)."""
    from pydantic import ValidationError

    if not isinstance(error, ValidationError):
        return str(error)
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in item["loc"]) or "request"
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)
