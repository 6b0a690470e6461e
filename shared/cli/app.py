"""The `chorus` Typer app and what its commands share: consoles, exit codes, error output."""

from __future__ import annotations

import typer
from rich.console import Console

app = typer.Typer(
    help="Chorus: orchestrator-workers LLM jobs on Celery and Redis.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)

EXIT_OK, EXIT_JOB_NOT_SUCCEEDED, EXIT_BAD_INPUT = 0, 1, 2


def bad_input(message: str) -> typer.Exit:
    """Print a one-line error (no trace) and exit 2."""
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_BAD_INPUT)
