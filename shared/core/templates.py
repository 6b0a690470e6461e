"""Rendering a job's own prompt templates (`options.prompts`), checked at submit by
`chorus.contract.templates`. Each placeholder becomes its value as text: a string as written,
any other value as JSON. A value is inserted once and never read as a template, so braces in
a task or a context value stay what they are."""

from __future__ import annotations

import json
import string
from collections.abc import Mapping, Sequence
from typing import Any

from chorus.contract.models import SubtaskAssignment
from chorus.contract.templates import context_variables


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def render(template: str, variables: Mapping[str, Any]) -> str:
    parts = []
    for literal, name, _, _ in string.Formatter().parse(template):
        parts.append(literal)
        if name is not None:
            parts.append(as_text(variables[name]))
    return "".join(parts)


def job_variables(task: str, context: Mapping[str, Any], max_subtasks: int) -> dict[str, Any]:
    """What every template may name: the top-level context keys, then the built-ins (which win
    over a context key of the same name)."""
    found = {key: context[key] for key in context_variables(dict(context))}
    found.update(task=task, context=dict(context), max_subtasks=max_subtasks)
    return found


def worker_variables(assignment: SubtaskAssignment) -> dict[str, Any]:
    found = job_variables(assignment.task, assignment.context, assignment.max_subtasks)
    found.update(
        original_task=assignment.task,
        task_type=assignment.subtask.type,
        task_description=assignment.subtask.description,
    )
    return found


def synthesis_variables(
    task: str, context: Mapping[str, Any], max_subtasks: int, outputs: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    return {**job_variables(task, context, max_subtasks), "outputs": list(outputs)}
