"""Prompt templates a job may bring (`options.prompts`): what they may say and which variables
each may use. Pure, and the contract every door checks at submit.

A template is text with `{name}` placeholders for plain variable names, and `{{`/`}}` for
literal braces. Nothing else is read: no attribute or index access (`{task.__class__}`,
`{context[0]}`), no conversion (`{task!r}`), no format spec (`{task:>10}`), no positional `{}`.
Rendering (`chorus.core.prompts.render`) inserts each value as text and never reads it again.
"""

from __future__ import annotations

import re
import string
from typing import Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chorus.contract import limits

ORCHESTRATOR_VARIABLES: Final = frozenset({"task", "context", "max_subtasks"})
WORKER_VARIABLES: Final = ORCHESTRATOR_VARIABLES | {
    "original_task",
    "task_type",
    "task_description",
}
SYNTHESIS_VARIABLES: Final = ORCHESTRATOR_VARIABLES | {"outputs"}
VARIABLES: Final = {
    "orchestrator": ORCHESTRATOR_VARIABLES,
    "worker": WORKER_VARIABLES,
    "synthesis": SYNTHESIS_VARIABLES,
}

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def placeholders(template: str) -> tuple[list[str], list[str]]:
    """(the variable names a template uses, in order; what is wrong with it, one line each)."""
    names: list[str] = []
    problems: list[str] = []
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as exc:  # a lone `{` or `}`
        return [], [f"{exc}; write {{{{ and }}}} for literal braces"]
    for _, name, spec, conversion in fields:
        if name is None:
            continue  # literal text only
        shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
        shown += "}"
        if not name:
            problems.append(f"{shown} has no variable name")
        elif not _NAME.fullmatch(name):
            problems.append(f"{shown}: only plain variable names, no attribute or index access")
        elif conversion or spec:
            problems.append(f"{shown}: no conversions or format specs, only {{{name}}}")
        else:
            names.append(name)
    return names, problems


def context_variables(context: dict[str, object]) -> frozenset[str]:
    """The top-level context keys a template may name: those that are plain names."""
    return frozenset(key for key in context if _NAME.fullmatch(key))


class PromptTemplates(BaseModel):
    """`options.prompts`: the job's own instructions, each checked at submit."""

    model_config = ConfigDict(extra="ignore")

    orchestrator: str | None = Field(default=None, max_length=limits.MAX_TEMPLATE_CHARS)
    worker: str | None = Field(default=None, max_length=limits.MAX_TEMPLATE_CHARS)
    synthesis: str | None = Field(default=None, max_length=limits.MAX_TEMPLATE_CHARS)

    @field_validator("orchestrator", "worker", "synthesis")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("a template must not be empty")
        return value

    def problems_with(self, context: dict[str, object]) -> list[str]:
        """What is wrong with each template, named with its field: placeholders that are not
        plain names, and names that are neither its variables nor top-level context keys."""
        found = []
        for kind, variables in VARIABLES.items():
            template = getattr(self, kind)
            if template is None:
                continue
            names, problems = placeholders(template)
            known = variables | context_variables(context)
            unknown = sorted({"{" + n + "}" for n in names if n not in known})
            if unknown:
                allowed = ", ".join(sorted(variables)) + " or a top-level context key"
                problems.append(
                    f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not a "
                    f"variable of this template ({allowed})"
                )
            found += [f"options.prompts.{kind}: {problem}" for problem in problems]
        return found
