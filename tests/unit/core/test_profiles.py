"""A job takes its profile's fields as defaults; what it gives inline wins."""

from __future__ import annotations

import pytest

from chorus.contract.profiles import Profile
from chorus.contract.templates import PromptTemplates
from chorus.core.profiles import Profiles
from chorus.core.submission import build_request
from chorus.errors import InvalidRequest

REVIEW = Profile(
    name="review",
    description="reviews",
    max_subtasks=4,
    synthesize=True,
    worker_max_tokens=900,
    prompts=PromptTemplates(worker="Review {diff} for {task_type}"),
)
PROFILES = Profiles({"review": REVIEW})


def test_the_profiles_fields_are_defaults_and_inline_fields_win() -> None:
    request = build_request(
        {
            "task": "t",
            "context": {"diff": "+x"},
            "options": {"profile": "review", "max_subtasks": 2},
        }
    )
    resolved = PROFILES.resolve(request)
    options = resolved.options
    assert options.profile == "review" and options.max_subtasks == 2  # given inline
    assert options.synthesize and options.worker_max_tokens == 900  # from the profile
    assert options.prompts == REVIEW.prompts
    assert PROFILES.resolve(resolved) == resolved  # a second door changes nothing


def test_without_a_profile_the_request_is_unchanged() -> None:
    request = build_request({"task": "t", "options": {"max_subtasks": 2}})
    assert PROFILES.resolve(request) is request


def test_an_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(InvalidRequest, match=r"no profile 'nope' \(known: review\)"):
        PROFILES.resolve(build_request({"task": "t", "options": {"profile": "nope"}}))


def test_a_profile_template_naming_a_missing_context_key_is_refused_at_submit() -> None:
    with pytest.raises(InvalidRequest) as caught:
        PROFILES.resolve(build_request({"task": "t", "options": {"profile": "review"}}))
    message = str(caught.value)
    assert message.startswith("with profile 'review':")
    assert "options.prompts.worker: {diff} is not a variable" in message


@pytest.mark.parametrize(
    "options",
    [
        {"prompts": {"worker": "{task}"}},
        {"output_schema": {"type": "object"}},
        {"profile": "review", "synthesis_schema": {"type": "object"}},
    ],
)
def test_with_inline_prompts_off_only_profiles_bring_instructions(
    options: dict[str, object],
) -> None:
    request = build_request({"task": "t", "context": {"diff": "+"}, "options": options})
    with pytest.raises(InvalidRequest, match="CHORUS_INLINE_PROMPTS=false"):
        PROFILES.resolve(request, inline_allowed=False)
    plain = build_request({"task": "t", "context": {"diff": "+"}, "options": {"profile": "review"}})
    assert PROFILES.resolve(plain, inline_allowed=False).options.prompts == REVIEW.prompts
