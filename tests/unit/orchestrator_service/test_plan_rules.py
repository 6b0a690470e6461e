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


# Found by mutation testing (docs/mutation.md): each test pins behaviour a mutant changed.
# The messages go back to the planner in its repair round, so their exact text is behaviour.


@pytest.mark.parametrize(
    ("plan", "limit", "message"),
    [
        (draft(), 5, "the plan has no subtasks; at least 1 is required"),
        (draft(("a", "x"), ("b", "y")), 1, "the plan has 2 subtasks; at most 1 are allowed"),
        (
            draft((" ", "x"), ("a" * 81, "  "), ("b", "x" * 2_001), ("B", "x")),
            5,
            "invalid plan: subtask 0 has an empty type; subtask 1 type is over 80 characters; "
            "subtask 1 has an empty description; subtask 2 description is over 2000 characters; "
            "subtask 3 repeats the type 'B' of subtask 2",
        ),
    ],
)
def test_a_rejected_plan_says_exactly_what_is_wrong(
    plan: PlanDraft, limit: int, message: str
) -> None:
    with pytest.raises(PlanError) as caught:
        validate_plan(plan, limit)
    assert str(caught.value) == message


def test_a_plan_exactly_at_every_limit_is_accepted_with_inner_whitespace_collapsed() -> None:
    plan = validate_plan(draft(("a" * 80, "x" * 2_000), ("two \n  words", "y")), 2)
    assert [s.type for s in plan.subtasks] == ["a" * 80, "two words"]


def test_a_wrong_tier_message_lists_the_jobs_tiers() -> None:
    draft = PlanDraft(analysis="a", subtasks=[SubtaskDraft(type="x", description="d")])
    with pytest.raises(PlanError) as caught:
        validate_plan(draft, 5, TIERS)
    expected = "invalid plan: subtask 0 has tier None; it must be one of fast, strong"
    assert str(caught.value) == expected
