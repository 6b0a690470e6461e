"""Job commands: submit, status, result, jobs, cancel.

Imports beyond Typer happen inside the commands (see `chorus.cli.app`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
from chorus.cli.inputs import live_focus, parse_context, read_mapping
from chorus.contract import limits

if TYPE_CHECKING:
    from chorus.contract.models import JobRecord
    from chorus.core.profiles import Profiles
    from chorus.settings import Settings
    from chorus.store.jobs import JobStore


def _profiles(settings: Settings) -> Profiles:
    from chorus.errors import ConfigError
    from chorus.runtime.profiles import load_profiles

    try:
        return load_profiles(settings)
    except ConfigError as exc:
        raise bad_input(str(exc)) from exc


@app.command()
def profiles(
    name: Annotated[str | None, typer.Argument(help="Show this profile in full.")] = None,
) -> None:
    """List the registered profiles, or show one (YAML-like JSON)."""
    registry = _profiles(load_settings())
    if name is None:
        for summary in registry.summaries():
            print(f"{summary.name}: {summary.description}")
        return
    found = registry.find(name)
    if found is None:
        raise fail(f"no profile {name!r} (known: {', '.join(registry.names())})")
    sys.stdout.write(found.model_dump_json(indent=2, exclude_none=True) + "\n")


def _store(settings: Settings) -> JobStore:
    """A store whose commands fail within seconds when Redis is away (the default client
    retries for about a minute, which at a prompt looks like a hang); Redis is pinged first."""
    from chorus.store.connection import redis_client

    client = redis_client(settings, fail_fast=True)
    with _reaching_redis():
        client.ping()  # before the store's imports, to say Redis is away as soon as can be
    from chorus.store.jobs import JobStore

    return JobStore(client, ttl_s=settings.job_ttl_s, delta_linger_s=settings.delta_linger_s)


@contextmanager
def _reaching_redis() -> Iterator[None]:
    """Redis (or the broker on it) failing becomes one line naming where Redis is."""
    import kombu.exceptions
    import redis

    try:
        yield
    except (redis.RedisError, kombu.exceptions.OperationalError) as exc:
        raise _unreachable(type(exc).__name__) from exc


def _unreachable(cause: str) -> typer.Exit:
    from chorus.store.connection import redis_location

    where = redis_location(load_settings())
    return fail(f"cannot reach Redis at {where} ({cause}); check REDIS_URL")


@app.command()
def submit(
    task: Annotated[str, typer.Argument(help="The task text.")],
    context: Annotated[str | None, typer.Option(help="A JSON object of context.")] = None,
    max_subtasks: Annotated[
        int | None,
        typer.Option(help=f"1 to 20 (default {limits.DEFAULT_MAX_SUBTASKS}, or the profile's)."),
    ] = None,
    synthesize: Annotated[
        bool | None,
        typer.Option("--synthesize/--no-synthesize", help="Combine the outputs into one answer."),
    ] = None,
    review: Annotated[
        bool | None,
        typer.Option(
            "--review/--no-review",
            help="Stop after planning until the plan is approved (chorus review JOB_ID).",
        ),
    ] = None,
    profile: Annotated[
        str | None, typer.Option(help="A registered profile (chorus profiles lists them).")
    ] = None,
    cache: Annotated[str | None, typer.Option(help="Prompt caching: auto, off or warm.")] = None,
    batch: Annotated[
        bool | None, typer.Option("--batch/--no-batch", help="Half price, via Message Batches.")
    ] = None,
    output_schema: Annotated[
        Path | None,
        typer.Option(
            "--output-schema", help="A JSON Schema (JSON, YAML or TOML) every output must match."
        ),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", "--follow", help="Follow progress until the job ends.")
    ] = False,
    live: Annotated[
        str | None,
        typer.Option(
            help="Follow, printing the workers' text as it is written: 'all' or one subtask's "
            "index (its text on stdout, progress on stderr)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait with --wait.")] = 600.0,
    prompts_file: Annotated[
        Path | None,
        typer.Option(
            "--prompts-file",
            help="YAML, TOML or JSON with the job's orchestrator, worker and synthesis templates.",
        ),
    ] = None,
) -> None:
    """Validate and enqueue a job. Exit 2 on bad input (nothing is enqueued)."""
    from chorus.core.submission import build_request
    from chorus.errors import InvalidRequest, JobTimeout

    # Only what was given: a profile's fields are the defaults of the rest.
    given = {
        "max_subtasks": max_subtasks,
        "synthesize": synthesize,
        "review_plan": review,
        "profile": profile,
        "cache": cache,
        "mode": None if batch is None else ("batch" if batch else "normal"),
    }
    options: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if prompts_file is not None:
        options["prompts"] = read_mapping(prompts_file)
    if output_schema is not None:
        options["output_schema"] = read_mapping(output_schema)
    payload = {"task": task, "context": parse_context(context), "options": options}
    settings = load_settings()
    try:
        request = _profiles(settings).resolve(build_request(payload))
        focus = live_focus(live, as_json)
    except (InvalidRequest, ValueError) as exc:
        raise bad_input(str(exc)) from exc
    store = _store(settings)
    # Celery and the rest only once Redis answered: Redis away is said that much sooner.
    from chorus.cli import render
    from chorus.runtime.app import create_celery_app
    from chorus.runtime.enqueue import record_and_enqueue
    from chorus.store.connection import redis_client
    from chorus.store.events import JobEvents
    from chorus.store.jobs import JobStore, wait_for_job

    app = create_celery_app(settings, fail_fast=True)
    with _reaching_redis():
        try:
            job_id = record_and_enqueue(app, store, settings, request).job_id
        except RuntimeError as exc:  # Celery's result backend gave up reconnecting
            raise _unreachable("Celery result backend") from exc
    if not wait and live is None:
        out().print_json(data={"job_id": job_id}) if as_json else out().print(job_id)
        return
    # Waiting rides out a Redis restart as the services do: these clients retry.
    store = JobStore.from_settings(settings)
    try:
        with _reaching_redis():
            if as_json:
                record = wait_for_job(store, job_id, timeout_s=timeout)
            else:
                err().print(f"job {job_id} enqueued; {settings.describe_model_endpoint()}")
                events = JobEvents(redis_client(settings), ttl_s=settings.job_ttl_s)
                if live is not None:
                    from chorus.cli.live import follow_live

                    record = follow_live(
                        store, events, job_id, focus=focus, timeout_s=timeout, err=err()
                    )
                else:
                    record = render.follow(store, events, job_id, timeout_s=timeout, console=err())
    except JobTimeout as exc:
        err().print(f"[yellow]{exc}[/yellow]")
        raise typer.Exit(EXIT_JOB_NOT_SUCCEEDED) from exc
    raise render.end_with(record, as_json=as_json)


def _load(job_id: str) -> tuple[JobStore, JobRecord]:
    from chorus.contract.models import job_id_problem

    problem = job_id_problem(job_id)
    if problem is not None:  # refused before Redis is asked: no key is built from it
        raise bad_input(problem)
    store = _store(load_settings())
    with _reaching_redis():
        record = store.find(job_id)
    if record is None:
        raise fail(f"no job {job_id!r} (unknown, or expired after its TTL)")
    return store, record


@app.command()
def jobs(
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per job, one per line.")
    ] = False,
) -> None:
    """List recent jobs: status, subtasks, tokens, cost and the task."""
    from rich.table import Column, Table

    from chorus.cli import render

    store = _store(load_settings())
    with _reaching_redis():
        found = [store.find(job_id) for job_id, _ in store.recent_jobs(limit)]
    records = [record for record in found if record is not None]
    if as_json:
        for record in records:
            print(json.dumps(render.listing(record)))
        return
    # The id never wraps or shortens, however narrow the terminal: it is what people copy.
    table = Table(
        Column("job", no_wrap=True, min_width=max((len(r.job_id) for r in records), default=3)),
        "status", "created", "subtasks", "tokens", "cost", Column("task", overflow="ellipsis"),
    )  # fmt: skip
    for record in records:
        table.add_row(
            record.job_id,
            render.status_text(record.status),
            record.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            str(record.subtasks_total),
            str(record.usage.total_tokens),
            render.cost_text(record.usage.cost_usd),
            record.request.task.replace("\n", " ")[:200],
        )
    out().print(table)


@app.command()
def status(job_id: str) -> None:
    """Show a job's status and progress."""
    store, record = _load(job_id)
    with _reaching_redis():
        done = store.results_count(job_id)
    line = f"{record.job_id} {record.status.value}"
    if record.subtasks_total:
        line += f" ({done} of {record.subtasks_total} subtasks done)"
    print(line)


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
        from chorus.cli import render

        render.show_record(out(), record)


@app.command()
def cancel(job_id: str) -> None:
    """Cancel a job: no further model calls are made for it."""
    store, _ = _load(job_id)
    with _reaching_redis():
        record, _ = store.cancel(job_id)
    print(f"{record.job_id} {record.status.value}")
