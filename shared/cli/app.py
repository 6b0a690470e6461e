"""The `chorus` Typer app and what its commands share: consoles, exit codes, error output.

Start-up time matters (`chorus --help` in well under a second): this module and the command
modules import only Typer at the top; each command imports what it needs when it runs.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from chorus.settings import Settings

app = typer.Typer(
    help="Chorus: orchestrator-workers LLM jobs on Celery and Redis.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

EXIT_OK, EXIT_JOB_NOT_SUCCEEDED, EXIT_BAD_INPUT = 0, 1, 2


@cache
def out() -> Console:
    from rich.console import Console

    return Console()


@cache
def err() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def bad_input(message: str) -> typer.Exit:
    """Print a one-line error (no trace) and exit 2."""
    err().print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_BAD_INPUT)


def fail(message: str) -> typer.Exit:
    """Print a one-line error (no trace) and exit 1."""
    err().print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_JOB_NOT_SUCCEEDED)


def load_settings() -> Settings:
    """The process's Settings, or a one-line error naming the bad variable (exit 2)."""
    from chorus.errors import ConfigError
    from chorus.settings import load_settings as load

    try:
        return load()
    except ConfigError as exc:
        raise bad_input(str(exc)) from exc
