"""--prompts-file reads YAML, TOML or JSON into one mapping, or says in one line what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from chorus.runtime.files import FileProblem, load_mapping


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("p.yaml", "worker: |\n  Style: {task_type}\n"),
        ("p.yml", "worker: |\n  Style: {task_type}\n"),
        ("p.toml", 'worker = """Style: {task_type}\n"""\n'),
        ("p.json", '{"worker": "Style: {task_type}\\n"}'),
    ],
)
def test_each_format_gives_the_same_mapping(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert load_mapping(path) == {"worker": "Style: {task_type}\n"}


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("p.txt", "worker: x", "use a .yaml, .yml, .toml or .json file"),
        ("p.yaml", "worker: [unclosed", "not valid YAML"),
        ("p.toml", "worker = ", "not valid TOML"),
        ("p.json", "{", "not valid JSON"),
        ("p.yaml", "- a list\n", "must hold a mapping"),
        ("p.yaml", "!!python/object:os.system ls", "not valid YAML"),  # safe_load only
    ],
)
def test_problems_are_one_line_naming_the_file(
    tmp_path: Path, name: str, text: str, problem: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(FileProblem) as caught:
        load_mapping(path)
    assert str(caught.value).startswith(str(path)) and problem in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileProblem, match="cannot read it"):
        load_mapping(tmp_path / "absent.yaml")
