"""The states a job and a subtask go through, and what they spend: the wire contract's
smallest pieces, which every other model builds on."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, computed_field

from chorus.contract.wire import WireModel


class JobStatus(StrEnum):
    PLANNING = "planning"
    # Planned, waiting for a person to approve, edit or reject the plan (options.review_plan).
    AWAITING_REVIEW = "awaiting_review"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self not in (JobStatus.PLANNING, JobStatus.AWAITING_REVIEW, JobStatus.RUNNING)


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
    # Written to the prompt cache; the 1-hour part (priced 2x input, not 1.25x) is a subset.
    cache_creation_input_tokens: NonNegativeInt = 0
    cache_read_input_tokens: NonNegativeInt = 0
    cache_write_1h_input_tokens: NonNegativeInt = 0
    cost_usd: float = Field(default=0.0, ge=0)
    # What caching saved against sending the same tokens uncached (negative: a cache write
    # nobody read), in dollars at the price the call was billed at.
    cache_saving_usd: float = 0.0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_creation_input_tokens=(
                self.cache_creation_input_tokens + other.cache_creation_input_tokens
            ),
            cache_read_input_tokens=self.cache_read_input_tokens + other.cache_read_input_tokens,
            cache_write_1h_input_tokens=(
                self.cache_write_1h_input_tokens + other.cache_write_1h_input_tokens
            ),
            cost_usd=round(self.cost_usd + other.cost_usd, 8),
            cache_saving_usd=round(self.cache_saving_usd + other.cache_saving_usd, 8),
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
