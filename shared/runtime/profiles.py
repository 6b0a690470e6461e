"""Loading the registered profiles: the built-in ones shipped with Chorus, then every
`*.yaml`, `*.yml`, `*.toml` and `*.json` file in `CHORUS_PROFILES_DIR` (a file there may
replace a built-in of the same name). A profile's name is its file's name. Every process loads
them at start and refuses to start on a broken one, naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pydantic

from chorus.contract.profiles import Profile
from chorus.core.profiles import Profiles
from chorus.errors import ConfigError
from chorus.runtime.files import FileProblem, load_mapping
from chorus.settings import Settings

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin_profiles"
SUFFIXES = (".yaml", ".yml", ".toml", ".json")


def load_profiles(settings: Settings) -> Profiles:
    found = _load_dir(BUILTIN_DIR)
    if settings.profiles_dir is not None:
        directory = Path(settings.profiles_dir)
        if not directory.is_dir():
            raise ConfigError(f"CHORUS_PROFILES_DIR: {directory} is not a directory")
        found |= _load_dir(directory)
    return Profiles(found)


def _load_dir(directory: Path) -> dict[str, Profile]:
    found: dict[str, Profile] = {}
    for path in sorted(p for p in directory.iterdir() if p.suffix.lower() in SUFFIXES):
        profile = load_profile(path)
        if profile.name in found:
            raise ConfigError(f"{path}: a second profile named {profile.name!r} in {directory}")
        found[profile.name] = profile
    return found


def load_profile(path: Path) -> Profile:
    """One profile file, or ConfigError naming the file and each field at fault."""
    try:
        data = load_mapping(path)
    except FileProblem as exc:
        raise ConfigError(str(exc)) from None
    try:
        profile = Profile.model_validate({**data, "name": path.stem})
    except pydantic.ValidationError as exc:
        problems = []
        for item in exc.errors(include_url=False, include_input=False):
            where = ".".join(str(p) for p in item["loc"]) or "profile"
            problems.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
        raise ConfigError(f"{path}: " + "; ".join(problems)) from None
    if profile.prompts is not None:
        # A template may name context keys the job will bring; everything else is checked now.
        problems = [p for p in profile.prompts.problems_with({}) if "is not a variable" not in p]
        if problems:
            raise ConfigError(f"{path}: " + "; ".join(problems))
    return profile
