"""The stack `chorus.Orchestrator` runs on when nothing is configured (no `CHORUS_API_URL`,
no `REDIS_URL`): a private Redis, the simulator unless `ANTHROPIC_API_KEY` is set, one
orchestrator and one worker process, started once per Python process and stopped at exit.

The one place outside the CLI that starts local processes, on purpose: the notebook's
three-line API works on a laptop with nothing installed, and the same code then runs against
a fleet by setting one variable.
"""

from __future__ import annotations

import atexit
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chorus.devstack.stack import LocalStack
    from chorus.settings import Settings

_lock = threading.Lock()
_stack: LocalStack | None = None


def embedded_settings() -> Settings:
    """Settings of the embedded stack, started on first use."""
    from chorus.devstack.stack import LocalStack
    from chorus.settings import Settings, load_settings

    global _stack
    with _lock:
        if _stack is None:
            stack = LocalStack(
                use_simulator=load_settings().uses_simulator,  # a blank key is no key
                workers=1,
                worker_concurrency=32,
            )
            stack.start()
            atexit.register(stack.stop)
            _stack = stack
        stack = _stack
    if stack.simulator_url is None:
        return Settings(redis_url=stack.redis_url)
    return Settings(redis_url=stack.redis_url, simulator_url=stack.simulator_url)


def embedded_pids() -> list[int]:
    """The processes of the embedded stack (empty when none runs)."""
    return [p.pid for p in _stack.processes] if _stack is not None else []
