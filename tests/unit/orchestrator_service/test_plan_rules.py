import pytest

from chorus.contract.plans import PlanDraft, SubtaskDraft, plan_format
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


TIERS = {"fast": "claude-haiku-5-5", "strong": "claude-sonnet-5-5"}


def test_with_tiers_each_subtask_keeps_the_tier_the_planner_chose() -> None:
    tiered = plan_format(TIERS)
    draft = tiered.model_validate(
        {
            "analysis": "a",
            "subtasks": [
                {"type": "quick", "description": "d", "tier": "fast"},
                {"type": "deep", "description": "d", "tier": "strong"},
            ],
        }
    )
    plan = validate_plan(draft, 5, TIERS)
    assert [s.tier for s in plan.subtasks] == ["fast", "strong"]
    assert validate_plan(draft, 5).subtasks[0].tier is None  # no tiers: none kept


def test_a_tier_outside_the_jobs_tiers_is_a_plan_error_for_the_repair_round() -> None:
    draft = PlanDraft(analysis="a", subtasks=[SubtaskDraft(type="x", description="d")])
    with pytest.raises(PlanError, match="subtask 0 has tier None; it must be one of fast, strong"):
        validate_plan(draft, 5, TIERS)


def test_the_tiered_schema_offers_only_the_jobs_tiers() -> None:
    schema = plan_format(TIERS).model_json_schema()
    item = schema["$defs"]["TieredSubtaskDraft"]["properties"]["tier"]
    assert item["enum"] == ["fast", "strong"] and "cheapest" in item["description"]
    assert plan_format(None) is PlanDraft and plan_format(TIERS) is plan_format(dict(TIERS))
