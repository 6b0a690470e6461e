"""Fan-out: one `worker.run_subtask` per planned subtask, joined by `orchestrator.gather_results`.

The chord header is one flat group of plain tasks (the shape the Redis backend's native chord
handles); a plan with no subtasks never reaches here, because a chord over an empty group
would never call back.

With the Redis backend a redelivered subtask can count twice in the chord and fire the callback
early; the gather step then looks again until the results hash (written once per index) is
full, so an early callback delays a job, never cuts it short.
"""

from __future__ import annotations

from celery import chord, group

from shared import records
from shared.celery_app import ChorusCelery
from shared.models import JobRecord, SubtaskAssignment
from shared.signatures import gather_signature, subtask_signature


def assignments(app: ChorusCelery, record: JobRecord) -> list[SubtaskAssignment]:
    assert record.plan is not None
    request = record.request
    max_tokens = request.options.worker_max_tokens or app.settings.worker_max_tokens
    budget = records.budget_of(record)
    return [
        SubtaskAssignment(
            job_id=record.job_id,
            task=request.task,
            context=request.context,
            subtask=subtask,
            model=record.worker_model,
            max_tokens=max_tokens,
            budget=budget,
        )
        for subtask in record.plan.subtasks
    ]


def dispatch_subtasks(app: ChorusCelery, record: JobRecord) -> str:
    """Send the chord; returns its group id."""
    header = group(subtask_signature(app, a) for a in assignments(app, record))
    if not header.tasks:
        raise ValueError("refusing to dispatch a chord with no subtasks")
    result = chord(header, gather_signature(app, record.job_id)).apply_async()
    return str(result.parent.id) if result.parent is not None else ""
