"""Logs as JSON lines, each carrying the job and subtask it is about.

Celery's `task_prerun` puts the job id and subtask index of the running task into a context
variable (per thread, so the threads pool keeps tasks apart); every log line written while the
task runs carries them, including lines from Celery and the libraries underneath.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from chorus.settings import LogFormat

_task_context: ContextVar[dict[str, Any] | None] = ContextVar("chorus_task_context", default=None)
# Which process writes: set once at start-up ("api", "flower") or from the Celery node name.
_process: dict[str, str] = {"role": "chorus"}

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(chorus_context)s: %(message)s"


def task_context(task_name: str, task_id: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """What identifies a Chorus task in a log line: the job, and the subtask when it is one."""
    context: dict[str, Any] = {"task": task_name, "task_id": task_id}
    if isinstance(kwargs.get("job_id"), str):
        context["job_id"] = kwargs["job_id"]
    subtask = kwargs.get("subtask")
    if isinstance(subtask, dict) and isinstance(subtask.get("index"), int):
        context["subtask"] = subtask["index"]
    return context


def set_node(node_name: str) -> None:
    """A Celery node `worker1@host` logs as role `worker1`, node `worker1@host`."""
    _process["node"] = node_name
    _process["role"] = node_name.partition("@")[0] or _process["role"]


def enter_task(context: dict[str, Any]) -> None:
    _task_context.set(context)


def leave_task() -> None:
    _task_context.set(None)


class ContextFilter(logging.Filter):
    """Copies the running task's context onto each record, for either format."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _task_context.get() or {}
        record.chorus = context
        job = context.get("job_id")
        suffix = f" [job {job}" if job else ""
        if job and "subtask" in context:
            suffix += f" subtask {context['subtask']}"
        record.chorus_context = suffix + "]" if suffix else ""
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            **_process,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "chorus", {}))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


RECEIVED_LOGGER = "celery.worker.strategy"


def configure_logging(role: str, fmt: LogFormat, level: str | int = "INFO") -> None:
    """Replace the root logger's handlers with one stderr handler in the chosen format."""
    _process["role"] = role
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    # One line per HTTP request would drown the job lines at 200 calls in flight.
    for noisy in ("httpx", "httpx2", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Celery logs each task twice at INFO: "received", then "succeeded", "failed" or "retry",
    # which says more. At 1,000 subtasks in flight the first line cost a twentieth of the
    # worker's CPU, in the one thread that takes messages off the queue. DEBUG keeps both.
    received = logging.getLogger(RECEIVED_LOGGER)
    received.setLevel(logging.WARNING if root.level > logging.DEBUG else logging.NOTSET)
