"""`chorus up`: the whole stack on this machine without Docker, until Ctrl-C.

Redis (a private redis-server unless REDIS_URL is set), the simulator unless ANTHROPIC_API_KEY
is set, one orchestrator, N workers, the API and Flower, each process's output prefixed with
its role.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.markup import escape

from chorus.devstack.stack import LocalStack, StackError
from chorus.settings import Settings

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
) -> int:
    settings = Settings()
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
    stack = LocalStack(
        redis_url=os.environ.get("REDIS_URL") or None,
        use_simulator=settings.uses_simulator,
        simulator_latency_ms=latency_ms,
        workers=workers,
        workdir=data_dir,
        echo=PrefixedOutput(console),
        redis_appendonly=data_dir is not None,
    )
    stopping = threading.Event()

    def request_stop(signum: int, _: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        stack.start(on_step=lambda line: console.print(f"[bold]up[/bold] • {line}"))
        api_url = stack.add_api(api_port)
        flower_url = stack.add_flower(flower_port)
    except StackError as exc:
        console.print(f"[red]could not start the stack:[/red] {exc}")
        stack.stop()
        return 1
    console.print(
        f"[bold]up[/bold] • Chorus is running. API {api_url} (docs {api_url}/docs, "
        f"metrics {api_url}/metrics), Flower {flower_url}, REDIS_URL={_safe(stack.redis_url)}\n"
        f"[bold]up[/bold] • Submit: REDIS_URL={_safe(stack.redis_url)} chorus submit 'a task' "
        "--follow. Ctrl-C stops everything.",
        highlight=False,
        soft_wrap=True,
    )
    while not stopping.wait(0.5):
        dead = [p.name for p in stack.processes if not p.alive()]
        if dead:
            console.print(f"[red]up • stopped unexpectedly: {', '.join(dead)}; shutting down[/red]")
            break
    console.print("[bold]up[/bold] • stopping every process…")
    stack.stop()
    console.print("[bold]up[/bold] • stopped.")
    return 0


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
