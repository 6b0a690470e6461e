"""Rendering inserts values as text, once: braces in values stay literal, nothing is re-read."""

from __future__ import annotations

from chorus.contract.models import Subtask, SubtaskAssignment
from chorus.core import prompts, templates
from chorus.core.submission import build_request


def test_values_are_text_strings_as_written_other_values_as_json() -> None:
    rendered = templates.render(
        "{task} | {context} | {max_subtasks} | {features} | {{literal}}",
        templates.job_variables(
            "Explain {x} and {{y}}", {"features": ["a", "b"], "n": 1}, max_subtasks=3
        ),
    )
    assert rendered == (
        'Explain {x} and {{y}} | {"features": ["a", "b"], "n": 1} | 3 | ["a", "b"] | {literal}'
    )


def test_a_value_that_looks_like_a_template_is_never_read_again() -> None:
    variables = templates.job_variables("{max_subtasks}", {"who": "{task.__class__}"}, 5)
    assert templates.render("{task} {who}", variables) == "{max_subtasks} {task.__class__}"


def test_built_in_names_win_over_context_keys() -> None:
    variables = templates.job_variables("the task", {"task": "shadow", "other": 1}, 2)
    assert variables["task"] == "the task" and variables["other"] == 1


def test_worker_and_synthesis_variables() -> None:
    assignment = SubtaskAssignment(
        job_id="j", task="T", context={"tone": "dry"}, max_subtasks=4, model="m", max_tokens=9,
        subtask=Subtask(index=0, type="formal", description="Be precise."),
        worker_template="{original_task}/{task_type}/{task_description}/{tone}/{max_subtasks}",
    )  # fmt: skip
    prompt = prompts.for_worker(assignment)
    assert prompt.system is None
    assert prompt.messages == [{"role": "user", "content": "T/formal/Be precise./dry/4"}]
    request = build_request(
        {"task": "T", "options": {"prompts": {"synthesis": "Combine: {outputs}"}}}
    )
    synthesis = prompts.for_synthesis(request, [{"type": "a", "output": "x"}])
    assert synthesis.messages[0]["content"] == 'Combine: [{"type": "a", "output": "x"}]'


def test_an_orchestrator_template_is_the_instruction_and_repairs_append_the_reason() -> None:
    request = build_request(
        {"task": "Sell {it}", "options": {"prompts": {"orchestrator": "Plan: {task}"}}}
    )
    prompt = prompts.for_planning(request, feedback="duplicate type 'a'")
    assert prompt.system == prompts.PLAN_FORMAT_NOTE.replace("{limit}", "5")
    assert "at most 5 subtasks" in str(prompt.system)
    content = str(prompt.messages[0]["content"])
    assert content.startswith("Plan: Sell {it}\n\nYour previous plan was rejected: duplicate")


def test_without_templates_the_built_in_prompts_are_used() -> None:
    request = build_request({"task": "t"})
    assert prompts.for_planning(request).system == prompts.planning_system(request)
    for word in ("writer", "marketing", "copy"):
        for text in (
            prompts.PLANNER_INSTRUCTIONS,
            prompts.WORKER_INSTRUCTIONS,
            prompts.SYNTHESIS_INSTRUCTIONS,
        ):
            assert word not in text.lower()


def test_a_single_response_element_is_unwrapped() -> None:
    assert prompts.unwrap_response("<response>\n  The copy.\n</response>\n") == "The copy."
    assert prompts.unwrap_response("  <response>a</response>") == "a"
    for kept in (
        "Before <response>a</response>",
        "<response>a</response><response>b</response>",
        "<response>unclosed",
        "plain text",
    ):
        assert prompts.unwrap_response(kept) == kept
