"""Service commands: run the orchestrator, workers, simulator, API, Flower, a whole local
stack (`chorus up`) or the demo.

Imports beyond Typer happen inside the commands (see `chorus.cli.app`).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from chorus.cli.app import app, bad_input, err, load_settings, out
from chorus.contract import limits, names

if TYPE_CHECKING:
    from chorus.settings import Settings


def _checked_settings() -> Settings:
    """Settings and profiles are checked before Celery starts: a broken one is one line, exit 2."""
    from chorus.errors import ConfigError
    from chorus.runtime.profiles import load_profiles

    settings = load_settings()
    try:
        load_profiles(settings)
    except ConfigError as exc:
        raise bad_input(str(exc)) from exc
    return settings


def _exec_celery(queue: str, name: str, concurrency: int, pool: str, loglevel: str) -> None:
    from chorus.runtime.commands import celery_worker_argv

    node = f"{name}@{socket.gethostname()}"
    argv = celery_worker_argv(
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
    n = concurrency or _checked_settings().orchestrator_concurrency
    _exec_celery(names.ORCHESTRATOR_QUEUE, name, n, "threads", loglevel)


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(help="Model calls in flight.")] = None,
    pool: Annotated[
        str, typer.Option(help="threads, gevent (needs chorus-jobs[gevent]) or prefork.")
    ] = limits.DEFAULT_WORKER_POOL,
    name: str = "worker",
    loglevel: str = "INFO",
) -> None:
    """Run a worker process (Celery worker on queue 'subtasks')."""
    n = concurrency or _checked_settings().worker_concurrency
    _exec_celery(names.SUBTASKS_QUEUE, name, n, pool, loglevel)


@app.command()
def simulator(
    host: str = "127.0.0.1",
    port: int = 8765,
    profile: Annotated[
        str, typer.Option(help="default (fast, exact) or realistic (slow, long-tailed).")
    ] = "default",
    latency_ms: Annotated[float | None, typer.Option(help="Median delay per call.")] = None,
    latency_p99_ms: Annotated[
        float | None, typer.Option(help="99th percentile delay: log-normal latency.")
    ] = None,
    ms_per_output_token: Annotated[float | None, typer.Option(help="Generation time.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the latency draws.")] = None,
    stream_tokens_per_s: Annotated[
        float | None, typer.Option(help="Streamed text pieces per second.")
    ] = None,
    fail_every: Annotated[int | None, typer.Option(help="Fail every Nth call (0: never).")] = None,
    fail_status: int | None = None,
    api_key: Annotated[
        str | None, typer.Option(envvar="CHORUS_SIMULATOR_API_KEY", help="Required off loopback.")
    ] = None,
) -> None:
    """Run the offline Anthropic-compatible simulator (local development and tests)."""
    import pydantic

    from chorus.devstack.simulator import SimulatorConfig, serve
    from chorus.devstack.simulator.config import PROFILES

    if profile not in PROFILES:
        raise bad_input(f"--profile must be one of {', '.join(PROFILES)}")
    try:
        config = SimulatorConfig.for_profile(
            "realistic" if profile == "realistic" else "default",
            latency_ms=latency_ms,
            latency_p99_ms=latency_p99_ms,
            ms_per_output_token=ms_per_output_token,
            seed=seed,
            stream_tokens_per_s=stream_tokens_per_s,
            fail_every=fail_every,
            fail_status=fail_status,
            api_key=api_key,
        )
    except pydantic.ValidationError as exc:
        raise bad_input(str(exc.errors(include_url=False)[0]["msg"])) from exc
    try:
        serve(host, port, config)
    except ValueError as exc:
        raise bad_input(str(exc)) from exc


@app.command()
def api(
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """Run the HTTP API (needs CHORUS_API_TOKENS to listen beyond loopback)."""
    import uvicorn

    from chorus.core.network import is_loopback
    from chorus.errors import ConfigError
    from chorus.orchestrator_service.api.app import create_api
    from chorus.orchestrator_service.api.connections import allow_open_streams
    from chorus.runtime import logs

    settings = load_settings()
    logs.configure_logging("api", settings.log_format)
    allow_open_streams()
    if settings.api_tokens is None and not is_loopback(host):
        raise bad_input(f"refusing to listen on {host} without CHORUS_API_TOKENS")
    try:
        application = create_api(settings)
    except ConfigError as exc:
        raise bad_input(str(exc)) from exc
    err().print(f"Chorus API listening on http://{host}:{port} (docs at /docs, console at /ui)")
    # log_config=None: uvicorn's lines go through the handler configured above.
    uvicorn.run(application, host=host, port=port, log_config=None, access_log=False)


@app.command()
def flower(address: str = "127.0.0.1", port: int = 5555) -> None:
    """Run Flower on the Chorus app (FLOWER_BASIC_AUTH=user:password to protect it)."""
    from chorus.core.network import basic_auth_problem, is_loopback
    from chorus.runtime.commands import flower_argv

    problem = basic_auth_problem(os.environ.get("FLOWER_BASIC_AUTH"))
    if problem and not is_loopback(address):
        raise bad_input(
            f"refusing to serve Flower on {address} without FLOWER_BASIC_AUTH ({problem})"
        )
    argv = flower_argv(address, port)
    os.execv(argv[0], argv)  # noqa: S606 - replaces this process with Flower


@app.command()
def demo(
    latency_ms: Annotated[float, typer.Option(help="Simulator delay per call.")] = 300.0,
    output: Annotated[str, typer.Option(help="Where to save the JobRecord JSON.")] = (
        "demo-result.json"
    ),
) -> None:
    """Run the sample job end to end on a local stack, then stop everything."""
    from chorus.cli.demo import run_demo

    raise typer.Exit(run_demo(out(), latency_ms=latency_ms, output=output))


@app.command()
def up(
    workers: Annotated[int, typer.Option(min=1, max=32, help="Worker processes.")] = 2,
    api_port: Annotated[int, typer.Option(help="API port (loopback).")] = 8000,
    flower_port: Annotated[int, typer.Option(help="Flower port (loopback).")] = 5555,
    latency_ms: Annotated[float, typer.Option(help="Simulator delay per call.")] = 500.0,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Keep logs and Redis data (DIR/redis) here, from one run to the next."),
    ] = None,
    redis_port: Annotated[
        int, typer.Option(help="Port of the Redis it starts (a free one if taken).")
    ] = limits.UP_REDIS_PORT,
) -> None:
    """Run the whole stack locally (no Docker): Redis, simulator, orchestrator, workers, API
    and Flower, logs prefixed by role. Ctrl-C stops all."""
    from chorus.cli.up import run_up

    code = run_up(
        out(),
        workers=workers,
        api_port=api_port,
        flower_port=flower_port,
        latency_ms=latency_ms,
        data_dir=data_dir,
        redis_port=redis_port,
    )
    raise typer.Exit(code)
