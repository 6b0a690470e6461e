"""Reading the files people write for Chorus (`--prompts-file`, profiles): YAML, TOML or JSON,
by suffix, as one mapping. Every problem is a one-line reason naming the file."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import yaml

MAX_FILE_BYTES = 1_000_000


class FileProblem(ValueError):
    pass


def load_mapping(path: Path) -> dict[str, Any]:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise FileProblem(f"{path}: {size} bytes; the limit is {MAX_FILE_BYTES}")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FileProblem(f"{path}: cannot read it ({exc.strerror or type(exc).__name__})") from exc
    except UnicodeDecodeError as exc:
        raise FileProblem(f"{path}: not UTF-8 text") from exc
    suffix = path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        elif suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise FileProblem(f"{path}: use a .yaml, .yml, .toml or .json file")
    except (yaml.YAMLError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise FileProblem(f"{path}: not valid {suffix.lstrip('.').upper()} ({first})") from exc
    if not isinstance(data, dict):
        raise FileProblem(f"{path}: must hold a mapping of names to values")
    return data
