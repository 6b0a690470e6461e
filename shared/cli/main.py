"""`chorus`: submit and follow jobs, run the services, the simulator and the demo.

The commands live by kind in `chorus.cli.jobs` and `chorus.cli.services`; importing them
registers them on the one Typer app.
"""

from __future__ import annotations

from typing import Annotated

import typer

from chorus import __version__
from chorus.cli import jobs, retry, review, services
from chorus.cli.app import app

__all__ = ["app", "jobs", "main", "retry", "review", "services"]


def _show_version(value: bool) -> None:
    if value:
        print(f"chorus {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Chorus: orchestrator-workers LLM jobs on Celery and Redis."""


def main() -> None:
    app()
