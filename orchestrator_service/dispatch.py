"""Fan-out: one `worker.run_subtask` per planned subtask, joined by `orchestrator.gather_results`.

The chord header is one flat group of plain tasks (the shape the Redis backend's native chord
handles); a plan with no subtasks never reaches here, because a chord over an empty group
would never call back.
"""

from __future__ import annotations

from celery import chord, group

from shared import constants, records
from shared.celery_app import ChorusCelery
from shared.models import JobRecord, SubtaskAssignment


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
    header = group(
        app.signature(
            constants.RUN_SUBTASK_TASK,
            kwargs=assignment.model_dump(mode="json"),
            queue=constants.SUBTASKS_QUEUE,
            # Flower shows this instead of the whole prompt.
            argsrepr="",
            kwargsrepr=f"job={record.job_id} subtask={assignment.subtask.index}"
            f" type={assignment.subtask.type!r}",
        )
        for assignment in assignments(app, record)
    )
    if not header.tasks:
        raise ValueError("refusing to dispatch a chord with no subtasks")
    callback = app.signature(
        constants.GATHER_RESULTS_TASK,
        kwargs={"job_id": record.job_id},
        queue=constants.ORCHESTRATOR_QUEUE,
        kwargsrepr=f"job={record.job_id}",
    )
    result = chord(header, callback).apply_async()
    return str(result.parent.id) if result.parent is not None else ""
