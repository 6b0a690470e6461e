"""Job commands: submit, status, result, jobs, cancel."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import pydantic
import redis
import typer
from rich.table import Table

from shared import constants
from shared.celery_app import create_celery_app
from shared.cli import render
from shared.cli.app import EXIT_JOB_NOT_SUCCEEDED, EXIT_OK, app, bad_input, err, out
from shared.job_events import JobEvents
from shared.job_store import JobStore, redis_client
from shared.models import JobRecord, JobStatus, describe_validation_error
from shared.settings import Settings
from shared.submission import (
    JobWaitTimeout,
    build_request,
    cancel_job,
    submit_job,
    wait_for_job,
)


def _parse_context(raw: str | None) -> Any:
    if raw is None:
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise bad_input(f"--context is not valid JSON: {exc.msg} at position {exc.pos}") from exc


def _store(settings: Settings) -> JobStore:
    store = JobStore.from_settings(settings)
    try:
        store.ping()
    except redis.RedisError as exc:
        err.print(f"[red]error:[/red] cannot reach Redis ({type(exc).__name__}); check REDIS_URL")
        raise typer.Exit(EXIT_JOB_NOT_SUCCEEDED) from exc
    return store


@app.command()
def submit(
    task: Annotated[str, typer.Argument(help="The task text.")],
    context: Annotated[str | None, typer.Option(help="A JSON object of context.")] = None,
    max_subtasks: Annotated[int, typer.Option(help="1 to 20.")] = constants.DEFAULT_MAX_SUBTASKS,
    synthesize: Annotated[
        bool, typer.Option("--synthesize", help="Combine the outputs into one answer.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", "--follow", help="Follow progress until the job ends.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait.")] = 600.0,
) -> None:
    """Validate and enqueue a job. Exit 2 on bad input (nothing is enqueued)."""
    options = {"max_subtasks": max_subtasks, "synthesize": synthesize}
    payload = {"task": task, "context": _parse_context(context), "options": options}
    try:
        request = build_request(payload)
    except pydantic.ValidationError as exc:
        raise bad_input(describe_validation_error(exc)) from exc
    settings = Settings()
    store = _store(settings)
    job_id = submit_job(create_celery_app(settings), store, settings, request).job_id
    if not wait:
        out.print_json(data={"job_id": job_id}) if as_json else out.print(job_id)
        return
    try:
        if as_json:
            record = wait_for_job(store, job_id, timeout_s=timeout)
        else:
            err.print(f"job {job_id} enqueued; {settings.describe_model_endpoint()}")
            events = JobEvents(redis_client(settings), ttl_s=settings.job_ttl_s)
            record = render.follow(store, events, job_id, timeout_s=timeout, console=err)
    except JobWaitTimeout as exc:
        err.print(f"[yellow]{exc}[/yellow]")
        raise typer.Exit(EXIT_JOB_NOT_SUCCEEDED) from exc
    if as_json:
        sys.stdout.write(record.model_dump_json(indent=2) + "\n")
    else:
        render.show_record(out, record)
    raise typer.Exit(EXIT_OK if record.status is JobStatus.SUCCEEDED else EXIT_JOB_NOT_SUCCEEDED)


def _load(job_id: str) -> tuple[JobStore, JobRecord]:
    store = _store(Settings())
    record = store.find(job_id)
    if record is None:
        err.print(f"[red]error:[/red] no job {job_id!r} (unknown, or expired after its TTL)")
        raise typer.Exit(EXIT_JOB_NOT_SUCCEEDED)
    return store, record


@app.command()
def jobs(
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
) -> None:
    """List recent jobs."""
    store = _store(Settings())
    table = Table("job", "status", "created", "subtasks", "task")
    for job_id, _ in store.recent_jobs(limit):
        record = store.find(job_id)
        if record is not None:
            task = record.request.task.replace("\n", " ")
            table.add_row(
                record.job_id,
                render.status_text(record.status),
                record.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                str(record.subtasks_total),
                task[:50] + ("…" if len(task) > 50 else ""),
            )
    out.print(table)


@app.command()
def status(job_id: str) -> None:
    """Show a job's status and progress."""
    store, record = _load(job_id)
    done = store.results_count(job_id)
    line = f"{record.job_id} {record.status.value}"
    if record.subtasks_total:
        line += f" ({done} of {record.subtasks_total} subtasks done)"
    out.print(line, highlight=False)


@app.command()
def result(
    job_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JobRecord JSON.")] = False,
) -> None:
    """Show a job's results record."""
    _, record = _load(job_id)
    if as_json:
        sys.stdout.write(record.model_dump_json(indent=2) + "\n")
    else:
        render.show_record(out, record)


@app.command()
def cancel(job_id: str) -> None:
    """Cancel a job: no further model calls are made for it."""
    store, _ = _load(job_id)
    record = cancel_job(store, job_id)
    out.print(f"{record.job_id} {record.status.value}", highlight=False)
