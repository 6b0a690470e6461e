"""Importing is free of side effects and of heavy dependencies where users import: each check
runs in a fresh interpreter, so nothing this test process imported can hide a regression."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support.source import modules

HEAVY = ("anthropic", "celery", "kombu", "fastapi", "starlette", "flower", "uvicorn")


def run_python(code: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def loaded_after(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    return set(json.loads(run_python(code).splitlines()[-1]))


def heavy_in(loaded: set[str]) -> list[str]:
    return sorted(m for m in loaded if m.split(".")[0] in HEAVY)


def test_import_chorus_and_its_client_pull_in_no_heavy_dependency() -> None:
    statement = (
        "import chorus, chorus.client\n"
        "from chorus import Client, AsyncClient, JobRecord, JobRequest, JobOptions, JobStatus\n"
        "from chorus import SubtaskResult, Usage, ChorusError, submit_job\n"
        "assert callable(chorus.submit_job)"
    )
    assert heavy_in(loaded_after(statement)) == []


def test_the_cli_imports_only_typer_to_parse_a_command() -> None:
    loaded = loaded_after("import chorus.cli.main")
    slow = ("pydantic_settings", "redis", "httpx", "rich", *HEAVY)
    assert sorted(m for m in loaded if m.split(".")[0] in slow) == []


def test_public_surface_is_curated() -> None:
    import chorus

    for name in chorus.__all__:
        assert getattr(chorus, name) is not None, name
    assert {"Client", "AsyncClient", "submit_job", "JobRecord", "ChorusError"} <= set(
        chorus.__all__
    )


def test_every_module_imports_with_a_bad_setting_and_builds_no_app() -> None:
    # Importing must not read settings, build a Celery app or connect a signal: a process
    # with one bad variable fails when it starts its work, with a message naming it.
    names = [m.name for m in modules() if not m.name.endswith("__main__")]
    code = (
        "import importlib, json\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "import celery._state, celery.signals\n"
        "receivers = sum(len(getattr(celery.signals, s).receivers or [])\n"
        "    for s in ('worker_init', 'worker_ready', 'task_prerun', 'setup_logging'))\n"
        "print(json.dumps({'apps': len(celery._state._apps), 'receivers': receivers}))"
    )
    out = run_python(code, env={"CHORUS_MAX_ATTEMPTS": "not-a-number"})
    assert json.loads(out.splitlines()[-1]) == {"apps": 0, "receivers": 0}


def test_a_bad_setting_is_one_line_naming_the_variable() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chorus.cli", "status", "some-job"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CHORUS_MAX_ATTEMPTS": "not-a-number"},
        check=False,
    )
    assert done.returncode == 2
    assert "CHORUS_MAX_ATTEMPTS" in done.stderr and "Traceback" not in done.stderr


def test_version_flag() -> None:
    import chorus

    done = subprocess.run(
        [sys.executable, "-m", "chorus.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip() == f"chorus {chorus.__version__}"


def test_all_lists_exactly_the_lazy_exports() -> None:
    import chorus

    assert sorted(chorus.__all__) == sorted(["__version__", *chorus._MODULE_OF])
