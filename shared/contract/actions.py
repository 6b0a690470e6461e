"""The bodies of the actions a caller takes on an existing job: retry what failed
(`POST /v1/jobs/{id}/retry`) and answer a plan awaiting review (`POST /v1/jobs/{id}/plan`)."""

from __future__ import annotations

from pydantic import Field, model_validator

from chorus.contract import limits
from chorus.contract.wire import WireModel


class RetryOptions(WireModel):
    """Limits for the retry, raising the job's own (None keeps the job's)."""

    max_total_tokens: int | None = Field(default=None, ge=1)
    max_cost_usd: float | None = Field(default=None, gt=0)
    # From the moment the retry starts.
    deadline_s: float | None = Field(default=None, gt=0, le=7 * 24 * 3600)


class RetryRequest(WireModel):
    options: RetryOptions = Field(default_factory=RetryOptions)


class EditedSubtask(WireModel):
    type: str
    description: str
    tier: str | None = None


class EditedPlan(WireModel):
    """A reviewer's plan: the subtasks to run (removed, reworded or added), checked by the
    same rules as a model's plan; the analysis stays the model's unless given."""

    analysis: str | None = Field(default=None, max_length=limits.MAX_TASK_CHARS)
    subtasks: list[EditedSubtask] = Field(max_length=limits.HARD_MAX_SUBTASKS)


class PlanReview(WireModel):
    """Exactly one of: `approve: true`, an edited `plan`, or `reject: true` (with a reason)."""

    approve: bool = False
    plan: EditedPlan | None = None
    reject: bool = False
    reason: str | None = Field(default=None, max_length=2_000)

    @model_validator(mode="after")
    def _one_action(self) -> PlanReview:
        chosen = [self.approve, self.plan is not None, self.reject]
        if sum(chosen) != 1:
            raise ValueError("give exactly one of approve: true, plan, or reject: true")
        return self
