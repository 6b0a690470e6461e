"""`chorus retry JOB_ID`: run a final job's failed and skipped subtasks again, with its stored
plan, as a new run; the succeeded results stay as they are, their calls not made again.

Like the other job commands it talks to Redis and the broker directly, through the same code
as `POST /v1/jobs/{id}/retry` (`chorus.runtime.enqueue.retry_and_enqueue`). Imports beyond
Typer happen inside the command.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from chorus.cli.app import (
    EXIT_JOB_NOT_SUCCEEDED,
    app,
    bad_input,
    err,
    fail,
    load_settings,
    out,
)
from chorus.cli.jobs import _load, _reaching_redis, _unreachable


@app.command()
def retry(
    job_id: str,
    max_cost_usd: Annotated[
        float | None, typer.Option(help="Raise the job's dollar limit (its whole spend).")
    ] = None,
    max_total_tokens: Annotated[
        int | None, typer.Option(help="Raise the job's token limit (its whole spend).")
    ] = None,
    deadline_s: Annotated[
        float | None, typer.Option(help="Seconds the retry may take, from now.")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "--wait", help="Follow the retry until the job ends.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JobRecord JSON.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --follow.")] = 600.0,
) -> None:
    """Retry what failed or was skipped. Exit 1 when the job cannot be retried (not final,
    nothing failed), 2 on bad input; with --follow, 1 unless the job ends succeeded."""
    import pydantic

    from chorus.contract.actions import RetryOptions
    from chorus.contract.models import describe_validation_error
    from chorus.errors import InvalidTransition, JobTimeout

    given = {"max_cost_usd": max_cost_usd, "max_total_tokens": max_total_tokens,
             "deadline_s": deadline_s}  # fmt: skip
    try:
        options = RetryOptions.model_validate({k: v for k, v in given.items() if v is not None})
    except pydantic.ValidationError as exc:
        raise bad_input(describe_validation_error(exc)) from exc
    store, record = _load(job_id)
    from chorus.runtime.app import create_celery_app
    from chorus.runtime.enqueue import retry_and_enqueue

    settings = load_settings()
    celery = create_celery_app(settings, fail_fast=True)
    with _reaching_redis():
        try:
            record = retry_and_enqueue(celery, store, record.job_id, options)
        except InvalidTransition as exc:
            raise fail(f"cannot retry {job_id}: {exc}") from exc
        except RuntimeError as exc:  # Celery's result backend gave up reconnecting
            raise _unreachable("Celery result backend") from exc
    run = record.runs[-1] if record.runs else None
    subtasks = ", ".join(str(i + 1) for i in run.subtasks) if run else ""
    if not follow:
        if as_json:
            sys.stdout.write(record.model_dump_json(indent=2) + "\n")
        else:
            out().print(f"{record.job_id} running again (run {run.run if run else 1}: "
                        f"subtasks {subtasks})", highlight=False)  # fmt: skip
        return
    from chorus.store.jobs import JobStore, wait_for_job

    waiting = JobStore.from_settings(settings)  # rides out a Redis restart, as `submit` does
    err().print(f"job {record.job_id} retrying subtasks {subtasks}", highlight=False)
    try:
        with _reaching_redis():
            record = wait_for_job(waiting, record.job_id, timeout_s=timeout)
    except JobTimeout as exc:
        err().print(f"[yellow]{exc}[/yellow]")
        raise typer.Exit(EXIT_JOB_NOT_SUCCEEDED) from exc
    from chorus.cli import render

    raise render.end_with(record, as_json=as_json)
