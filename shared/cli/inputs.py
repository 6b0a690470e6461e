"""Reading what `chorus submit` is given: the context as JSON, files of prompts or schemas,
and which subtask's text `--live` shows. Each problem is a clear error, exit code 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chorus.cli.app import bad_input


def parse_context(raw: str | None) -> Any:
    if raw is None:
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise bad_input(f"--context is not valid JSON: {exc.msg} at position {exc.pos}") from exc


def read_mapping(path: Path) -> dict[str, Any]:
    from chorus.runtime.files import FileProblem, load_mapping

    try:
        return load_mapping(path)
    except FileProblem as exc:
        raise bad_input(str(exc)) from exc


def live_focus(live: str | None, as_json: bool) -> int | None:
    if live is None:
        return None
    if as_json:
        raise ValueError("--live prints text as it comes; it does not go with --json")
    from chorus.cli.live import parse_focus

    return parse_focus(live)
