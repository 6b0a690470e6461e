"""The simulator's pure parts: schema-valid deterministic output, faults, prompt caching."""

from anthropic.lib._parse._transform import transform_schema

from chorus.contract.plans import PlanDraft
from chorus.devstack.simulator.cache import PromptCache
from chorus.devstack.simulator.faults import FaultPlan, FaultRule
from chorus.devstack.simulator.generation import generate_instance, generate_text


def plan_schema() -> dict[str, object]:
    return transform_schema(PlanDraft.model_json_schema())


def test_generated_plan_is_schema_valid_deterministic_and_distinct() -> None:
    prompt = "Write about water bottles. Plan at most 4 subtasks."
    first = PlanDraft.model_validate(generate_instance(plan_schema(), prompt))
    again = PlanDraft.model_validate(generate_instance(plan_schema(), prompt))
    assert first == again
    assert 1 <= len(first.subtasks) <= 4
    assert len({s.type for s in first.subtasks}) == len(first.subtasks)
    assert first.analysis


def test_plan_size_is_honoured_up_to_twenty_distinct_types() -> None:
    plan = PlanDraft.model_validate(
        generate_instance(plan_schema(), "Plan at most 20 subtasks.", list_size=20)
    )
    assert len({s.type for s in plan.subtasks}) == 20


def test_text_is_deterministic_and_uses_prompt_words() -> None:
    text = generate_text("Describe the insulated bottle for millennials")
    assert text == generate_text("Describe the insulated bottle for millennials")
    assert any(w in text for w in ("insulated", "millennials", "describe", "bottle"))


def test_fail_every_then_rules_with_times() -> None:
    plan = FaultPlan(fail_every=3, fail_status=529)
    plan.replace([FaultRule(match="<subtask>", status=400, times=1)], None, None)
    assert plan.decide(3, "x") is not None and plan.decide(3, "x").status == 529  # type: ignore[union-attr]
    assert plan.decide(1, "a <subtask> b").status == 400  # type: ignore[union-attr]
    assert plan.decide(2, "a <subtask> b") is None  # times exhausted
    assert plan.decide(4, "plain") is None


def test_rule_needs_exactly_one_effect() -> None:
    import pydantic
    import pytest

    with pytest.raises(pydantic.ValidationError):
        FaultRule(match="x")
    with pytest.raises(pydantic.ValidationError):
        FaultRule(match="x", status=500, body="y")
    with pytest.raises(pydantic.ValidationError):
        FaultRule(match="x", raw_body="<html>", trickle_s=1)


def test_raw_body_and_trickle_rules_carry_their_effect() -> None:
    plan = FaultPlan()
    rules = [
        FaultRule(match="raw", raw_body="{}", content_type="application/json", times=1),
        FaultRule(match="slow", trickle_s=2),
    ]
    plan.replace(rules, None, None)
    raw = plan.decide(1, "raw")
    assert raw is not None and (raw.raw_body, raw.content_type) == ("{}", "application/json")
    slow = plan.decide(2, "slow")
    assert slow is not None and slow.trickle_s == 2 and slow.raw_body is None


def test_marked_prefix_is_written_once_then_read() -> None:
    cache = PromptCache(min_tokens=10)
    system = [{"type": "text", "text": "shared " * 100, "cache_control": {"type": "ephemeral"}}]
    request = {"model": "m", "system": system, "messages": [{"role": "user", "content": "hi"}]}
    charge = cache.account(request)
    cache.begin(charge)  # usable only once the writer's response has begun
    first, second = charge.usage, cache.account(request).usage
    assert first.cache_creation_input_tokens == 100 and first.cache_read_input_tokens == 0
    assert second.cache_read_input_tokens == 100 and second.cache_creation_input_tokens == 0
    assert second.input_tokens == 1
    short = {"model": "m", "system": [{**system[0], "text": "tiny"}], "messages": []}
    assert cache.account(short).usage.cache_creation_input_tokens == 0


def test_generated_values_keep_the_bounds_of_a_users_schema() -> None:
    from chorus.core.outputs import validation_problem

    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string", "maxLength": 12},
            "code": {"type": "string", "minLength": 400},
            "score": {"type": "integer", "minimum": -5, "maximum": 0},
            "ratio": {"type": "number", "maximum": 0.5},
            "kind": {"const": "review"},
            "level": {"enum": ["low", "high"]},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        },
        "required": ["title", "code", "score", "ratio", "kind", "level", "tags"],
    }
    for prompt in ("one prompt", "another prompt"):
        value = generate_instance(schema, prompt)
        assert validation_problem(value, schema) is None, value
        assert value == generate_instance(schema, prompt)  # deterministic
