"""`GET /metrics`: the fleet's Prometheus metrics, read from Redis at scrape time.

Off loopback the API has tenants; metrics describe every tenant's jobs, so they take their own
bearer token (`CHORUS_METRICS_TOKEN`) rather than any tenant's.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import Iterator
from typing import Annotated

import redis
from fastapi import FastAPI, Header, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from chorus.settings import Settings
from chorus.store.connection import redis_client
from chorus.store.health import UNREACHABLE, health_families, probe
from chorus.store.metrics import FleetCollector


def metrics_allowed(settings: Settings, authorization: str | None) -> bool:
    if settings.metrics_token is None:
        # Without tenants the API listens on loopback only, and so do its metrics.
        return settings.api_tokens is None
    scheme, _, given = (authorization or "").partition(" ")
    expected = settings.metrics_token.get_secret_value()
    return scheme.lower() == "bearer" and hmac.compare_digest(expected.encode(), given.encode())


class _ScrapeCollector(Collector):
    """The store's health first: with Redis away or full a scrape still answers, saying so,
    where the fleet's figures (which live in Redis) cannot be read."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._fleet = FleetCollector(client)

    def collect(self) -> Iterator[Metric]:
        health = probe(self._redis)
        yield from health_families(health)
        if health.up:
            # Gone since the probe: this scrape says up, the next one down.
            with contextlib.suppress(*UNREACHABLE):
                yield from list(self._fleet.collect())


def add_metrics_route(api: FastAPI, settings: Settings) -> None:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ScrapeCollector(redis_client(settings, fail_fast=True)))

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
