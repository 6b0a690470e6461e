"""`chorus up`: the whole stack on this machine without Docker, until Ctrl-C.

Redis (a private redis-server unless REDIS_URL is set), the simulator unless ANTHROPIC_API_KEY
is set, one orchestrator, N workers, the API and Flower, each process's output prefixed with
its role. A port it needs being taken, or a process failing to start, stops it with one line
and a non-zero exit.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.markup import escape

from chorus.cli.app import load_settings
from chorus.contract import limits
from chorus.devstack.stack import LocalStack, StackError, free_port, port_in_use

ROLE_STYLES = {"simulator": "magenta", "orchestrator": "cyan", "api": "green", "flower": "yellow"}


class PrefixedOutput:
    """Prints child output as `role | line`; one lock keeps lines from different processes
    from interleaving mid-line."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._lock = threading.Lock()

    def __call__(self, name: str, line: str) -> None:
        role = name.partition("@")[0]
        style = ROLE_STYLES.get(role, "blue")
        with self._lock:
            self._console.print(
                f"[{style}]{role:>12} |[/{style}] {escape(line)}", highlight=False, soft_wrap=True
            )


def run_up(
    console: Console,
    *,
    workers: int,
    api_port: int,
    flower_port: int,
    latency_ms: float,
    data_dir: Path | None,
    redis_port: int = limits.UP_REDIS_PORT,
) -> int:
    settings = load_settings()
    # Checked before anything starts: a taken port would otherwise fail (or, answered by
    # someone else's server, pass) a health check after everything else had started.
    problem = _port_problem(api_port, flower_port)
    if problem is not None:
        return _failed(console, problem)
    redis_url = os.environ.get("REDIS_URL", "").strip() or None
    if redis_url is None and port_in_use(redis_port):
        taken, redis_port = redis_port, free_port()
        _say(console, f"Redis port {taken} is in use; this Redis takes port {redis_port}")
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
    stack = LocalStack(
        redis_url=redis_url,
        use_simulator=settings.uses_simulator,
        simulator_latency_ms=latency_ms,
        workers=workers,
        workdir=data_dir,
        echo=PrefixedOutput(console),
        redis_appendonly=data_dir is not None,
        redis_port=redis_port,
        # Named after nothing that changes, so the next `up` finds the same jobs.
        redis_dir=data_dir / "redis" if data_dir is not None else None,
    )
    stopping = threading.Event()

    def request_stop(signum: int, _: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        stack.start(on_step=lambda line: _say(console, line))
        # The API's job pages link to Flower's tasks: the port is fixed before either starts.
        flower_link = settings.flower_url or f"http://127.0.0.1:{flower_port}"
        api_url = stack.add_api(api_port, env={"CHORUS_FLOWER_URL": flower_link})
        flower_url = stack.add_flower(flower_port)
    except StackError as exc:
        stack.stop()
        # The first line says why; the child's own lines were echoed above and are in its log.
        return _failed(console, str(exc).splitlines()[0].rstrip(":"))
    console.print(
        f"[bold]up[/bold] • Chorus is running. Console {api_url}/ui (loopback: no sign-in), "
        f"API {api_url} (docs {api_url}/docs, metrics {api_url}/metrics), Flower "
        f"{flower_url}, REDIS_URL={_safe(stack.redis_url)}\n"
        f"[bold]up[/bold] • Submit: REDIS_URL={_safe(stack.redis_url)} chorus submit 'a task' "
        "--follow. Ctrl-C stops everything.",
        highlight=False,
        soft_wrap=True,
    )
    code = 0
    while not stopping.wait(0.5):
        dead = [p.name for p in stack.processes if not p.alive()]
        if dead:
            console.print(
                f"[red]up • stopped unexpectedly: {', '.join(dead)}; shutting down[/red]",
                soft_wrap=True,
            )
            code = 1
            break
    console.print("[bold]up[/bold] • stopping every process…")
    stack.stop()
    console.print("[bold]up[/bold] • stopped.")
    return code


def _port_problem(api_port: int, flower_port: int) -> str | None:
    if api_port == flower_port:
        return f"the API and Flower cannot share port {api_port}"
    for what, port, option in (
        ("API", api_port, "--api-port"),
        ("Flower", flower_port, "--flower-port"),
    ):
        if port_in_use(port):
            return f"{what} port {port} is already in use (choose another with {option})"
    return None


def _say(console: Console, line: str) -> None:
    console.print(f"[bold]up[/bold] • {line}", highlight=False, soft_wrap=True)


def _failed(console: Console, why: str) -> int:
    console.print(f"[red]up • could not start the stack:[/red] {escape(why)}", soft_wrap=True)
    return 1


def _safe(url: str) -> str:
    """A Redis URL fit to print: a password in it is masked (in every part of a sentinel://
    URL, which lists its sentinels separated by ';')."""
    if ";" in url:
        return ";".join(_safe(part) for part in url.split(";"))
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at:
        return url
    user = creds.partition(":")[0]
    return f"{scheme}{sep}{user}:***@{host}"
