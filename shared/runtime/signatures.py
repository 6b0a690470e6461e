"""Celery signatures of the tasks Chorus processes send each other, built one way for every
sender: name, queue and the short argument label Flower shows instead of whole prompts."""

from __future__ import annotations

import uuid

from celery import Celery, Signature

from chorus.contract import names
from chorus.contract.models import SubtaskAssignment


def flower_label(**fields: object) -> str:
    """The short argument label Flower shows for a task, as a dict literal: Flower's search
    then matches `kwargs:job=<id>` exactly, and its kwargs column names job, subtask, type."""
    return repr(fields)


def gather_signature(app: Celery, job_id: str, *, give_up: str | None = None) -> Signature:
    kwargs: dict[str, str] = {"job_id": job_id}
    if give_up is not None:
        kwargs["give_up"] = give_up
    return app.signature(
        names.GATHER_RESULTS_TASK,
        kwargs=kwargs,
        queue=names.ORCHESTRATOR_QUEUE,
        # As a chord callback it receives every subtask's output as its argument: Flower
        # shows this label instead.
        argsrepr="(subtask results)",
        kwargsrepr=flower_label(job=job_id),
    )


def subtask_signature(app: Celery, assignment: SubtaskAssignment) -> Signature:
    return app.signature(
        names.RUN_SUBTASK_TASK,
        kwargs=assignment.model_dump(mode="json"),
        queue=names.SUBTASKS_QUEUE,
        task_id=f"{uuid.uuid4()}{names.CHORD_SUBTASK_ID_SUFFIX}",
        # The gather reads each result from the job's results hash and the chord counts
        # without the stored receipt: not storing it saves a SETEX and a PUBLISH in the worker
        # and a SUBSCRIBE and UNSUBSCRIBE in the sender, per subtask. Flower still shows the
        # receipt (from the task-succeeded event); a bare `send_task` still gets it.
        ignore_result=True,
        argsrepr="",
        kwargsrepr=flower_label(
            job=assignment.job_id, subtask=assignment.subtask.index, type=assignment.subtask.type
        ),
    )
