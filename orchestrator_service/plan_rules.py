"""Plan validation: pure rules that turn the model's draft into a Plan or a clear reason.

A subtask is never silently dropped: a draft that breaks a rule is rejected as a whole, with
a message the model can act on in a repair round and a person can read on the record.
"""

from collections.abc import Mapping

from chorus.contract import limits
from chorus.contract.models import Plan, Subtask
from chorus.contract.plans import PlanDraft
from chorus.errors import PlanError


def _clean(text: str) -> str:
    return " ".join(text.split())


def validate_plan(
    draft: PlanDraft, max_subtasks: int, tiers: Mapping[str, str] | None = None
) -> Plan:
    """Return the validated Plan, or raise PlanError saying exactly what is wrong. With
    `tiers`, every subtask names one of them."""
    if not draft.subtasks:
        raise PlanError("the plan has no subtasks; at least 1 is required")
    if len(draft.subtasks) > max_subtasks:
        raise PlanError(
            f"the plan has {len(draft.subtasks)} subtasks; at most {max_subtasks} are allowed"
        )
    problems: list[str] = []
    seen: dict[str, int] = {}
    subtasks: list[Subtask] = []
    for index, item in enumerate(draft.subtasks):
        kind = _clean(item.type)
        description = item.description.strip()
        if not kind:
            problems.append(f"subtask {index} has an empty type")
        elif len(kind) > limits.MAX_SUBTASK_TYPE_CHARS:
            problems.append(
                f"subtask {index} type is over {limits.MAX_SUBTASK_TYPE_CHARS} characters"
            )
        elif kind.casefold() in seen:
            problems.append(
                f"subtask {index} repeats the type {kind!r} of subtask {seen[kind.casefold()]}"
            )
        else:
            seen[kind.casefold()] = index
        if not description:
            problems.append(f"subtask {index} has an empty description")
        elif len(description) > limits.MAX_SUBTASK_DESCRIPTION_CHARS:
            problems.append(
                f"subtask {index} description is over "
                f"{limits.MAX_SUBTASK_DESCRIPTION_CHARS} characters"
            )
        tier = getattr(item, "tier", None) if tiers else None
        if tiers and tier not in tiers:
            problems.append(
                f"subtask {index} has tier {tier!r}; it must be one of {', '.join(sorted(tiers))}"
            )
        if not problems:
            subtasks.append(Subtask(index=index, type=kind, description=description, tier=tier))
    if problems:
        raise PlanError("invalid plan: " + "; ".join(problems))
    return Plan(analysis=draft.analysis.strip(), subtasks=subtasks)
