"""The template grammar: plain names and doubled braces, nothing else, each problem named."""

from __future__ import annotations

import pytest

from chorus.contract.templates import PromptTemplates, context_variables, placeholders
from chorus.core.submission import build_request
from chorus.errors import InvalidRequest


def test_plain_names_in_order_and_doubled_braces_are_literal() -> None:
    assert placeholders("Task: {task} {{not a var}} for {audience}, {task}") == (
        ["task", "audience", "task"],
        [],
    )


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{task.__class__}", "{task.__class__}: only plain variable names"),
        ("{context[0]}", "{context[0]}: only plain variable names"),
        ("{task!r}", "{task!r}: no conversions or format specs, only {task}"),
        ("{task:>10}", "{task:>10}: no conversions or format specs"),
        ("{}", "{} has no variable name"),
        ("{0}", "{0}: only plain variable names"),
        ("{task", "expected '}' before end of string; write {{ and }} for literal braces"),
        ("task}", "Single '}' encountered"),
    ],
)
def test_anything_but_a_plain_name_is_refused(template: str, problem: str) -> None:
    _, problems = placeholders(template)
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_context_keys_that_are_plain_names_are_variables() -> None:
    assert context_variables({"audience": 1, "key features": 2, "_x9": 3, "9x": 4}) == {
        "audience",
        "_x9",
    }


def test_each_template_may_name_only_its_own_variables() -> None:
    prompts = PromptTemplates(
        orchestrator="{task} {max_subtasks} {context} {audience} {task_type}",
        worker="{original_task} {task_type} {task_description} {outputs}",
        synthesis="{outputs} {task} {audience}",
    )
    assert prompts.problems_with({"audience": "x"}) == [
        "options.prompts.orchestrator: {task_type} is not a variable of this template "
        "(context, max_subtasks, task or a top-level context key)",
        "options.prompts.worker: {outputs} is not a variable of this template (context, "
        "max_subtasks, original_task, task, task_description, task_type or a top-level "
        "context key)",
    ]


def test_submit_names_every_problem_of_every_template_at_once() -> None:
    payload = {
        "task": "t",
        "options": {"prompts": {"worker": "{task.__class__} {nope}", "orchestrator": "{x!s}"}},
    }
    with pytest.raises(InvalidRequest) as caught:
        build_request(payload)
    message = str(caught.value)
    for part in (
        "options.prompts.orchestrator: {x!s}",
        "options.prompts.worker: {task.__class__}",
        "options.prompts.worker: {nope} is not a variable",
    ):
        assert part in message, message
    assert "\n" not in message


@pytest.mark.parametrize("bad", ["", "   ", "x" * 20_001])
def test_empty_or_oversized_templates_are_refused(bad: str) -> None:
    with pytest.raises(InvalidRequest, match=r"options\.prompts\.worker"):
        build_request({"task": "t", "options": {"prompts": {"worker": bad}}})


# Found by mutation testing (docs/mutation.md): each test pins behaviour a mutant changed.


@pytest.mark.parametrize("kind", ["orchestrator", "worker", "synthesis"])
def test_every_template_is_refused_when_blank_or_oversized_and_says_which(kind: str) -> None:
    with pytest.raises(InvalidRequest) as blank:
        build_request({"task": "t", "options": {"prompts": {kind: "  "}}})
    assert str(blank.value) == f"options.prompts.{kind}: a template must not be empty"
    with pytest.raises(InvalidRequest, match=rf"options\.prompts\.{kind}"):
        build_request({"task": "t", "options": {"prompts": {kind: "x" * 20_001}}})


def test_several_unknown_names_are_listed_together() -> None:
    with pytest.raises(InvalidRequest, match=r"\{a\}, \{b\} are not a variable of this template"):
        build_request({"task": "t", "options": {"prompts": {"worker": "{a} {b}"}}})
