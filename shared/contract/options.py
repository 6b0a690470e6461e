"""What a job's options and a registered profile set: limits, models, prompts, output schemas,
tiers, plan review and the webhook called when the job ends."""

import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from chorus.contract import limits
from chorus.contract.schemas import schema_problems
from chorus.contract.templates import PromptTemplates
from chorus.contract.wire import WireModel

_MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$")
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _check_model_name(value: str | None) -> str | None:
    if value is not None and not _MODEL_NAME_RE.fullmatch(value):
        raise ValueError("model name must be 1-128 letters, digits or ._:@/- characters")
    return value


CacheMode = Literal["auto", "off", "warm"]
JobMode = Literal["normal", "batch"]
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
    # Stop after planning in `awaiting_review` until a person approves, edits or rejects the
    # plan; unanswered for `review_timeout_s`, the job fails with the reason.
    review_plan: bool = False
    review_timeout_s: float | None = Field(default=None, gt=0, le=limits.MAX_REVIEW_TIMEOUT_S)
    # POSTed the job's summary, signed, when it ends (and on `awaiting_review` if asked).
    webhook_url: str | None = Field(default=None, max_length=limits.MAX_WEBHOOK_URL_CHARS)
    webhook_on_review: bool = False
    # Prompt caching of the job's shared block (task and context): "auto" caches it when that
    # is cheaper and sends one worker call first to warm it when the planner could not;
    # "warm" always warms, "off" never marks anything for caching (chorus.core.caching).
    cache: CacheMode = "auto"
    # "batch": the job's model calls go through the Message Batches API at half price,
    # answered within the hour rather than seconds (chorus.runtime.batches).
    mode: JobMode = "normal"

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

    @field_validator("webhook_url")
    @classmethod
    def _webhook_https_or_loopback(cls, value: str | None) -> str | None:
        problem = webhook_url_problem(value) if value is not None else None
        if problem is not None:
            raise ValueError(problem)
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


def webhook_url_problem(url: str) -> str | None:
    """Why `url` cannot receive webhooks, from its text alone (None: it can): https, or http to
    a loopback host. Where a name resolves to is checked by the API against its allow-list."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        return "webhook_url is not a valid URL"
    if not host:
        return "webhook_url needs a host"
    if parts.username is not None or parts.password is not None:
        return "webhook_url must not carry credentials (the signature authenticates Chorus)"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and (host in _LOOPBACK_HOSTS or host.startswith("127.")):
        return None
    return "webhook_url must be https (or http to a loopback address)"
