"""Start a real `chorus api` process for a test, wait for it with a deadline, stop it by pid."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

from chorus.devstack.stack import ManagedProcess, StackError, free_port, wait_until


def start_api(
    env: dict[str, str], log_path: Path, *, timeout_s: float = 30
) -> tuple[ManagedProcess, str]:
    port = free_port()
    proc = ManagedProcess(
        "api",
        [sys.executable, "-m", "chorus.cli", "api", "--port", str(port)],
        env=env,
        log_path=log_path,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if not proc.alive():
            raise StackError(f"the API exited early:\n{proc.log_text()[-2000:]}")
        try:
            return httpx.get(url + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout_s=timeout_s, what="the API")
    except BaseException:
        proc.stop()
        raise
    return proc, url
