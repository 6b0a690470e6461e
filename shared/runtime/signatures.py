"""Celery signatures of the tasks Chorus processes send each other, built one way for every
sender: name, queue and the short argument label Flower shows instead of whole prompts."""

from __future__ import annotations

from celery import Celery, Signature

from chorus.contract import names
from chorus.contract.models import SubtaskAssignment


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
        kwargsrepr=f"job={job_id}",
    )


def subtask_signature(app: Celery, assignment: SubtaskAssignment) -> Signature:
    return app.signature(
        names.RUN_SUBTASK_TASK,
        kwargs=assignment.model_dump(mode="json"),
        queue=names.SUBTASKS_QUEUE,
        argsrepr="",
        kwargsrepr=f"job={assignment.job_id} subtask={assignment.subtask.index}"
        f" type={assignment.subtask.type!r}",
    )
