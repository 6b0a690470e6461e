"""The plan as the planning model returns it, through structured output: the schema, and for
a job with model tiers the same schema in which each subtask also names its tier, from the
job's tiers only (an enum)."""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model


class SubtaskDraft(BaseModel):
    """One subtask as the planning model proposes it (structured output schema)."""

    type: str = Field(description="A short, distinct label for this approach, e.g. 'technical'.")
    description: str = Field(description="What a worker should produce for this approach.")


class PlanDraft(BaseModel):
    """The planning model's structured output, before Chorus validates it."""

    analysis: str = Field(description="What the task needs and which approaches add value.")
    subtasks: list[SubtaskDraft] = Field(description="The subtasks worth doing for this input.")


def plan_format(tiers: dict[str, str] | None) -> type[PlanDraft]:
    return PlanDraft if not tiers else _tiered(tuple(sorted(tiers)))


@cache
def _tiered(names: tuple[str, ...]) -> type[PlanDraft]:
    tier: Any = Literal.__getitem__(names)
    described = Field(
        description="Which model tier does this subtask: "
        + ", ".join(names)
        + ". Choose the cheapest tier that does it well."
    )
    subtask = create_model("TieredSubtaskDraft", __base__=SubtaskDraft, tier=(tier, described))
    items = Field(description="The subtasks worth doing for this input.")
    plan: type[PlanDraft] = create_model(
        "TieredPlanDraft",
        __base__=PlanDraft,
        subtasks=(list[subtask], items),
    )
    return plan
