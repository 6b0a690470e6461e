"""Profiles load from files; a broken one stops the process with the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from chorus.core.records import prompt_hashes
from chorus.core.submission import build_request
from chorus.errors import ConfigError
from chorus.runtime.profiles import load_profile, load_profiles
from chorus.settings import Settings

BUILT_IN = {"code-review", "marketing-variations", "research-brief"}


def settings(profiles_dir: Path | None = None) -> Settings:
    return Settings(profiles_dir=str(profiles_dir) if profiles_dir else None)


def test_the_built_in_profiles_load_and_describe_themselves() -> None:
    profiles = load_profiles(settings())
    assert set(profiles.names()) == BUILT_IN
    for profile in profiles:
        assert profile.description and profile.prompts is not None
    review = profiles.get("code-review")
    assert review.output_schema is not None and review.output_schema["required"] == ["findings"]
    assert profiles.get("research-brief").synthesize


def test_a_directory_adds_profiles_and_may_replace_a_built_in(tmp_path: Path) -> None:
    (tmp_path / "triage.toml").write_text('description = "Support triage"\nmax_subtasks = 2\n')
    (tmp_path / "code-review.yaml").write_text("description: ours\n")
    profiles = load_profiles(settings(tmp_path))
    assert set(profiles.names()) == BUILT_IN | {"triage"}
    assert profiles.get("code-review").description == "ours"
    assert profiles.get("triage").max_subtasks == 2


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("p.yaml", "description: x\nmax_subtask: 3\n", "max_subtask: Extra inputs are not"),
        ("p.yaml", "max_subtasks: 3\n", "description: Field required"),
        ("p.yaml", "description: x\nmax_subtasks: 99\n", "max_subtasks: Input should be less"),
        ("p.yaml", "description: x\nprompts:\n  worker: '{task.__class__}'\n",
         "options.prompts.worker: {task.__class__}: only plain variable names"),
        ("p.yaml", "description: x\noutput_schema: {type: string}\n",
         "output_schema: the top level must be"),
        ("p.yaml", "description: [unclosed\n", "not valid YAML"),
        ("Bad Name.yaml", "description: x\n", "name: String should match pattern"),
    ],
)  # fmt: skip
def test_a_broken_profile_names_its_file_and_field(
    tmp_path: Path, name: str, text: str, problem: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_profile(path)
    assert str(caught.value).startswith(str(path)) and problem in str(caught.value)
    with pytest.raises(ConfigError):
        load_profiles(settings(tmp_path))


def test_a_profiles_dir_that_is_not_a_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CHORUS_PROFILES_DIR"):
        load_profiles(settings(tmp_path / "absent"))


def test_the_record_keeps_a_hash_of_each_template() -> None:
    request = build_request({"task": "t", "options": {"prompts": {"worker": "{task}"}}})
    hashes = prompt_hashes(request)
    assert set(hashes) == {"worker"} and len(hashes["worker"]) == 64
    assert prompt_hashes(build_request({"task": "t"})) == {}
