"""`GET /metrics`: the fleet's Prometheus metrics, read from Redis at scrape time.

Off loopback the API has tenants; metrics describe every tenant's jobs, so they take their own
bearer token (`CHORUS_METRICS_TOKEN`) rather than any tenant's.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import FastAPI, Header, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from chorus.settings import Settings
from chorus.store.connection import redis_client
from chorus.store.metrics import FleetCollector


def metrics_allowed(settings: Settings, authorization: str | None) -> bool:
    if settings.metrics_token is None:
        # Without tenants the API listens on loopback only, and so do its metrics.
        return settings.api_tokens is None
    scheme, _, given = (authorization or "").partition(" ")
    expected = settings.metrics_token.get_secret_value()
    return scheme.lower() == "bearer" and hmac.compare_digest(expected.encode(), given.encode())


def add_metrics_route(api: FastAPI, settings: Settings) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(redis_client(settings)))

    @api.get("/metrics", include_in_schema=False, response_model=None)
    def metrics(
        authorization: Annotated[str | None, Header()] = None,
    ) -> Response | JSONResponse:
        if not metrics_allowed(settings, authorization):
            return JSONResponse(
                {"error": "metrics need the bearer token set in CHORUS_METRICS_TOKEN"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
