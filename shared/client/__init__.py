"""Clients of a Chorus fleet: `Client` and `AsyncClient` over the HTTP API, and `submit_job`
for services on the same broker. Importing this package imports neither Celery nor the
anthropic SDK."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chorus.client.http import AsyncClient, Client

if TYPE_CHECKING:
    from chorus.client.broker import BrokerSubmitter, submit_job

__all__ = ["AsyncClient", "BrokerSubmitter", "Client", "submit_job"]


def __getattr__(name: str) -> Any:
    # The broker submitter pulls in Celery and Redis: only when a caller uses it.
    if name in ("submit_job", "BrokerSubmitter"):
        from chorus.client import broker

        return getattr(broker, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
