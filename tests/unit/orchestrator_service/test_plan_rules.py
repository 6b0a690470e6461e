import pytest

from chorus.contract.models import PlanDraft, SubtaskDraft
from chorus.errors import PlanError
from chorus.orchestrator_service.plan_rules import validate_plan


def draft(*pairs: tuple[str, str]) -> PlanDraft:
    return PlanDraft(
        analysis=" worth it ", subtasks=[SubtaskDraft(type=t, description=d) for t, d in pairs]
    )


def test_valid_plan_is_indexed_in_order_and_cleaned() -> None:
    plan = validate_plan(draft(("  formal\n", " Write it formally. "), ("casual", "Chat.")), 5)
    assert [(s.index, s.type, s.description) for s in plan.subtasks] == [
        (0, "formal", "Write it formally."),
        (1, "casual", "Chat."),
    ]
    assert plan.analysis == "worth it"


@pytest.mark.parametrize(
    ("plan", "limit", "reason"),
    [
        (draft(), 5, "no subtasks"),
        (draft(("a", "x"), ("b", "y"), ("c", "z")), 2, "3 subtasks; at most 2"),
        (draft(("Formal", "x"), ("formal", "y")), 5, "repeats the type 'formal' of subtask 0"),
        (draft((" ", "x")), 5, "subtask 0 has an empty type"),
        (draft(("a", "  ")), 5, "subtask 0 has an empty description"),
        (draft(("a" * 81, "x")), 5, "over 80 characters"),
    ],
)
def test_invalid_plans_are_rejected_whole_with_the_reason(
    plan: PlanDraft, limit: int, reason: str
) -> None:
    with pytest.raises(PlanError, match=reason):
        validate_plan(plan, limit)
