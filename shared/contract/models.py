"""The wire contract: every message that crosses a process is one of these pydantic models.

Wire models ignore unknown fields (`extra="ignore"`) so that a newer producer and an older
consumer survive a rolling deploy.
"""

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator, model_validator

from chorus.contract import limits
from chorus.contract.context import check_context
from chorus.contract.schemas import schema_problems
from chorus.contract.templates import PromptTemplates

_JOB_ID_RE = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_.:-]{{0,{limits.MAX_JOB_ID_CHARS - 1}}}$")
JOB_ID_RULE = f"job_id must be 1-{limits.MAX_JOB_ID_CHARS} letters, digits or _.:- characters"
_MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$")


class WireModel(BaseModel):
    model_config = ConfigDict(extra="ignore")


def job_id_problem(value: object) -> str | None:
    """Why `value` cannot be a job id (None: it can): checked at every door, tasks included."""
    return None if isinstance(value, str) and _JOB_ID_RE.fullmatch(value) else JOB_ID_RULE


def _check_job_id(value: str | None) -> str | None:
    if value is not None and job_id_problem(value):
        raise ValueError(JOB_ID_RULE)
    return value


class JobStatus(StrEnum):
    PLANNING = "planning"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self not in (JobStatus.PLANNING, JobStatus.RUNNING)


class SubtaskStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # never sent to the model: the job's budget or deadline ran out


class Budget(WireModel):
    """Per-job limits. Checked before every model call; calls already in flight finish."""

    max_total_tokens: int | None = Field(default=None, ge=1)
    max_cost_usd: float | None = Field(default=None, gt=0)
    deadline_at: datetime | None = None

    def exceeded(self, spent_tokens: int, spent_usd: float, now: datetime) -> str | None:
        """The reason the job must stop spending, or None."""
        if self.deadline_at is not None and now >= self.deadline_at:
            return "deadline_exceeded"
        if self.max_total_tokens is not None and spent_tokens >= self.max_total_tokens:
            return "budget_exceeded"
        if self.max_cost_usd is not None and spent_usd >= self.max_cost_usd:
            return "budget_exceeded"
        return None


NonNegativeInt = Annotated[int, Field(ge=0)]


class Usage(WireModel):
    input_tokens: NonNegativeInt = 0
    output_tokens: NonNegativeInt = 0
    cache_creation_input_tokens: NonNegativeInt = 0
    cache_read_input_tokens: NonNegativeInt = 0
    cost_usd: float = Field(default=0.0, ge=0)

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_creation_input_tokens=(
                self.cache_creation_input_tokens + other.cache_creation_input_tokens
            ),
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
            cost_usd=round(self.cost_usd + other.cost_usd, 8),
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
        )


def _check_model_name(value: str | None) -> str | None:
    if value is not None and not _MODEL_NAME_RE.fullmatch(value):
        raise ValueError("model name must be 1-128 letters, digits or ._:@/- characters")
    return value


PROFILE_NAME = r"^[a-z0-9][a-z0-9-]{0,63}$"
_TIER_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class ProfileOptions(WireModel):
    """What a job's options and a registered profile both set."""

    max_subtasks: int = Field(
        default=limits.DEFAULT_MAX_SUBTASKS, ge=1, le=limits.HARD_MAX_SUBTASKS
    )
    orchestrator_model: str | None = None
    worker_model: str | None = None
    plan_max_tokens: int | None = Field(default=None, ge=1, le=limits.MAX_OUTPUT_TOKENS_CAP)
    worker_max_tokens: int | None = Field(default=None, ge=1, le=limits.MAX_OUTPUT_TOKENS_CAP)
    # One more call after gathering combines the worker outputs into a final answer.
    synthesize: bool = False
    max_total_tokens: int | None = Field(default=None, ge=1)
    max_cost_usd: float | None = Field(default=None, gt=0)
    deadline_s: float | None = Field(default=None, gt=0, le=7 * 24 * 3600)
    # The job's own orchestrator, worker and synthesis instructions (chorus.contract.templates).
    prompts: PromptTemplates | None = None
    # JSON Schemas every worker output / the synthesis must match (chorus.contract.schemas).
    output_schema: dict[str, Any] | None = None
    synthesis_schema: dict[str, Any] | None = None
    # Model tiers the planner assigns subtasks to, e.g. {"fast": "claude-haiku-5-5", ...}.
    tiers: dict[str, str] | None = Field(default=None, min_length=1, max_length=8)

    _models = field_validator("orchestrator_model", "worker_model")(_check_model_name)

    @field_validator("output_schema", "synthesis_schema")
    @classmethod
    def _schema_in_the_structured_output_subset(
        cls, value: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        problems = schema_problems(value) if value is not None else []
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("tiers")
    @classmethod
    def _tier_names_and_models(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for name, model in (value or {}).items():
            if not _TIER_RE.fullmatch(name):
                raise ValueError(f"tier {name!r}: 1-32 lowercase letters, digits, _ or -")
            _check_model_name(model)
        return value


class JobOptions(ProfileOptions):
    # A registered profile (`GET /v1/profiles`): its fields are the defaults of this job's.
    profile: str | None = Field(default=None, pattern=PROFILE_NAME)


class JobRequest(WireModel):
    """What a caller submits: `orchestrator.run_job` takes exactly these as JSON kwargs."""

    task: str = Field(max_length=limits.MAX_TASK_CHARS)
    context: dict[str, Any] = Field(default_factory=dict)
    options: JobOptions = Field(default_factory=JobOptions)
    job_id: str | None = None
    # Set by the HTTP API from the caller's token, never taken from a client's body there.
    tenant: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")

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
