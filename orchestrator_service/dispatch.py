"""Fan-out: one `worker.run_subtask` per planned subtask, joined by `orchestrator.gather_results`.

The chord header is one flat group of plain tasks (the shape the Redis backend's native chord
handles); a plan with no subtasks never reaches here, because a chord over an empty group
would never call back.

With the Redis backend a redelivered subtask can count twice in the chord and fire the callback
early; the gather step then looks again until the results hash (written once per index) is
full, so an early callback delays a job, never cuts it short.
"""

from __future__ import annotations

from celery import Celery, chord, group

from chorus.contract.models import JobRecord, SubtaskAssignment
from chorus.core import records
from chorus.runtime.signatures import gather_signature, subtask_signature
from chorus.settings import Settings


def assignments(settings: Settings, record: JobRecord) -> list[SubtaskAssignment]:
    """What each worker gets: everything it needs, nothing it must look up (pure)."""
    assert record.plan is not None
    request = record.request
    max_tokens = request.options.worker_max_tokens or settings.worker_max_tokens
    budget = records.budget_of(record)
    tiers = request.options.tiers or {}
    return [
        SubtaskAssignment(
            job_id=record.job_id,
            task=request.task,
            context=request.context,
            subtask=subtask,
            # The planner's tier for this subtask, else the job's one worker model.
            model=tiers.get(subtask.tier or "", record.worker_model),
            max_tokens=max_tokens,
            budget=budget,
            worker_template=request.options.prompts.worker if request.options.prompts else None,
            max_subtasks=request.options.max_subtasks,
            output_schema=request.options.output_schema,
        )
        for subtask in record.plan.subtasks
    ]


def dispatch_subtasks(app: Celery, settings: Settings, record: JobRecord) -> str:
    """Send the chord; returns its group id."""
    header = group(subtask_signature(app, a) for a in assignments(settings, record))
    if not header.tasks:
        raise ValueError("refusing to dispatch a chord with no subtasks")
    result = chord(header, gather_signature(app, record.job_id)).apply_async()
    return str(result.parent.id) if result.parent is not None else ""
