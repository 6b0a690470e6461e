"""Chorus: orchestrator-workers LLM jobs on Celery and Redis.

    import chorus

    with chorus.Client("http://127.0.0.1:8000", token="...") as client:
        job_id = client.submit("Explain {x} in Python", options={"max_subtasks": 3})
        record = client.wait(job_id)  # a chorus.JobRecord

Everything a user needs is importable from here. Names resolve on first use (PEP 562), so
`import chorus` is fast and never imports Celery, the anthropic SDK, FastAPI or Flower.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

if TYPE_CHECKING:
    from chorus.client.broker import submit_job
    from chorus.client.http import AsyncClient, Client
    from chorus.client.orchestrator import Orchestrator
    from chorus.contract.events import EventKind, JobEvent
    from chorus.contract.models import (
        JobOptions,
        JobRecord,
        JobRequest,
        JobStatus,
        Plan,
        Subtask,
        SubtaskResult,
        SubtaskStatus,
        Usage,
    )
    from chorus.errors import (
        ApiError,
        ApiUnavailable,
        ChorusError,
        ConfigError,
        InvalidRequest,
        JobNotFound,
        JobTimeout,
        ModelCallError,
        PlanError,
        WebhookSignatureError,
    )
    from chorus.settings import Settings
    from chorus.webhooks import verify_webhook

_EXPORTS = {
    "chorus.client.http": ("AsyncClient", "Client"),
    "chorus.client.broker": ("submit_job",),
    "chorus.client.orchestrator": ("Orchestrator",),
    "chorus.contract.events": ("EventKind", "JobEvent"),
    "chorus.contract.models": (
        "JobOptions",
        "JobRecord",
        "JobRequest",
        "JobStatus",
        "Plan",
        "Subtask",
        "SubtaskResult",
        "SubtaskStatus",
        "Usage",
    ),
    "chorus.errors": (
        "ApiError",
        "ApiUnavailable",
        "ChorusError",
        "ConfigError",
        "InvalidRequest",
        "JobNotFound",
        "JobTimeout",
        "ModelCallError",
        "PlanError",
        "WebhookSignatureError",
    ),
    "chorus.settings": ("Settings",),
    "chorus.webhooks": ("verify_webhook",),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "ApiError",
    "ApiUnavailable",
    "AsyncClient",
    "ChorusError",
    "Client",
    "ConfigError",
    "EventKind",
    "InvalidRequest",
    "JobEvent",
    "JobNotFound",
    "JobOptions",
    "JobRecord",
    "JobRequest",
    "JobStatus",
    "JobTimeout",
    "ModelCallError",
    "Orchestrator",
    "Plan",
    "PlanError",
    "Settings",
    "Subtask",
    "SubtaskResult",
    "SubtaskStatus",
    "Usage",
    "WebhookSignatureError",
    "__version__",
    "submit_job",
    "verify_webhook",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'chorus' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULE_OF))
