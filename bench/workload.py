"""The one workload every system in the suite runs, so their figures compare like for like."""

from __future__ import annotations

from typing import Any

from chorus.contract import limits
from chorus.contract.models import JobRequest, Subtask, SubtaskAssignment

TASK = "Write a product description for a new eco-friendly water bottle."
CONTEXT: dict[str, Any] = {"target_audience": "environmentally conscious millennials"}

# The simulators plan this many items and `max_subtasks` cuts the plan down, so one simulator
# serves every point of the subtasks curve.
SIMULATOR_PLAN_SIZE = limits.HARD_MAX_SUBTASKS

ORCHESTRATOR_MODEL = limits.DEFAULT_ORCHESTRATOR_MODEL
WORKER_MODEL = limits.DEFAULT_WORKER_MODEL
PLAN_MAX_TOKENS = limits.DEFAULT_PLAN_MAX_TOKENS
WORKER_MAX_TOKENS = limits.DEFAULT_WORKER_MAX_TOKENS


def payload(subtasks: int) -> dict[str, Any]:
    return {"task": TASK, "context": CONTEXT, "options": {"max_subtasks": subtasks}}


def request(subtasks: int) -> JobRequest:
    return JobRequest.model_validate(payload(subtasks))


def assignment(
    job_id: str,
    index: int,
    kind: str,
    description: str,
    *,
    task: str = TASK,
    context: dict[str, Any] | None = None,
) -> SubtaskAssignment:
    """The worker call Chorus would make for this subtask (same prompt, model and cap)."""
    return SubtaskAssignment(
        job_id=job_id,
        task=task,
        context=CONTEXT if context is None else context,
        subtask=Subtask(index=index, type=kind, description=description),
        model=WORKER_MODEL,
        max_tokens=WORKER_MAX_TOKENS,
    )
