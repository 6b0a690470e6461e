"""`chorus`: submit and follow jobs, run the services, the simulator and the demo."""

from __future__ import annotations

import json
import os
import socket
import sys
from typing import Annotated, Any

import pydantic
import redis
import typer
from rich.console import Console
from rich.table import Table

from shared import constants, local_stack, log_format
from shared.celery_app import create_celery_app
from shared.cli import render
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

app = typer.Typer(
    help="Chorus: orchestrator-workers LLM jobs on Celery and Redis.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)

EXIT_OK, EXIT_JOB_NOT_SUCCEEDED, EXIT_BAD_INPUT = 0, 1, 2


def _bad_input(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _parse_context(raw: str | None) -> Any:
    if raw is None:
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise _bad_input(f"--context is not valid JSON: {exc.msg} at position {exc.pos}") from exc


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
        raise _bad_input(describe_validation_error(exc)) from exc
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
    events = JobEvents(redis_client(Settings()), ttl_s=Settings().job_ttl_s)
    record = cancel_job(store, events, job_id)
    out.print(f"{record.job_id} {record.status.value}", highlight=False)


def _exec_celery(queue: str, name: str, concurrency: int, pool: str, loglevel: str) -> None:
    node = f"{name}@{socket.gethostname()}"
    argv = local_stack.celery_worker_argv(
        queue, node_name=node, concurrency=concurrency, pool=pool, loglevel=loglevel
    )
    os.execv(argv[0], argv)  # noqa: S606 - replaces this process with the Celery worker


@app.command()
def orchestrator(
    concurrency: Annotated[int | None, typer.Option(help="Threads.")] = None,
    name: str = "orchestrator",
    loglevel: str = "INFO",
) -> None:
    """Run an orchestrator process (Celery worker on queue 'orchestrator')."""
    settings = Settings()
    n = concurrency or settings.orchestrator_concurrency
    _exec_celery(constants.ORCHESTRATOR_QUEUE, name, n, "threads", loglevel)


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(help="Model calls in flight.")] = None,
    pool: Annotated[
        str, typer.Option(help="threads, gevent (needs chorus[gevent]) or prefork.")
    ] = constants.DEFAULT_WORKER_POOL,
    name: str = "worker",
    loglevel: str = "INFO",
) -> None:
    """Run a worker process (Celery worker on queue 'subtasks')."""
    settings = Settings()
    n = concurrency or settings.worker_concurrency
    _exec_celery(constants.SUBTASKS_QUEUE, name, n, pool, loglevel)


@app.command()
def simulator(
    host: str = "127.0.0.1",
    port: int = 8765,
    latency_ms: Annotated[float, typer.Option(help="Delay per call.")] = 0.0,
    fail_every: Annotated[int, typer.Option(help="Fail every Nth call (0: never).")] = 0,
    fail_status: int = 529,
    api_key: Annotated[
        str | None, typer.Option(envvar="CHORUS_SIMULATOR_API_KEY", help="Required off loopback.")
    ] = None,
) -> None:
    """Run the offline Anthropic-compatible simulator."""
    from shared.simulator import SimulatorConfig, serve

    config = SimulatorConfig(
        latency_ms=latency_ms, fail_every=fail_every, fail_status=fail_status, api_key=api_key
    )
    try:
        serve(host, port, config)
    except ValueError as exc:
        raise _bad_input(str(exc)) from exc


@app.command()
def api(
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """Run the HTTP API (needs CHORUS_API_TOKENS to listen beyond loopback)."""
    import uvicorn

    from orchestrator_service.api.app import create_api
    from orchestrator_service.api.auth import TokenConfigError
    from shared.simulator.server import is_loopback

    settings = Settings()
    log_format.configure_logging("api", settings.log_format)
    if settings.api_tokens is None and not is_loopback(host):
        raise _bad_input(f"refusing to listen on {host} without CHORUS_API_TOKENS")
    try:
        application = create_api(settings)
    except TokenConfigError as exc:
        raise _bad_input(str(exc)) from exc
    err.print(f"Chorus API listening on http://{host}:{port} (docs at /docs)")
    # log_config=None: uvicorn's lines go through the handler configured above.
    uvicorn.run(application, host=host, port=port, log_config=None, access_log=False)


@app.command()
def flower(address: str = "127.0.0.1", port: int = 5555) -> None:
    """Run Flower on the Chorus app (FLOWER_BASIC_AUTH=user:password to protect it)."""
    from shared.simulator.server import is_loopback

    if not os.environ.get("FLOWER_BASIC_AUTH") and not is_loopback(address):
        raise _bad_input(f"refusing to serve Flower on {address} without FLOWER_BASIC_AUTH")
    argv = [
        sys.executable, "-m", "celery", "-A", "shared.celery_app", "flower",
        f"--address={address}", f"--port={port}",
    ]  # fmt: skip
    os.execv(argv[0], argv)  # noqa: S606 - replaces this process with Flower


@app.command()
def demo(
    latency_ms: Annotated[float, typer.Option(help="Simulator delay per call.")] = 300.0,
    output: Annotated[str, typer.Option(help="Where to save the JobRecord JSON.")] = (
        "demo-result.json"
    ),
) -> None:
    """Run the sample job end to end on a local stack, then stop everything."""
    from shared.cli.demo import run_demo

    raise typer.Exit(run_demo(out, latency_ms=latency_ms, output=output))
