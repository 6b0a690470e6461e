"""`/healthz` (the process answers) and `/readyz` (it can take work: Redis reachable and not
full, an orchestrator and a worker consuming).

`/healthz` runs on the event loop and touches nothing, so it answers however many requests
wait on Redis. `/readyz` asks Redis on the event loop with a fail-fast client, and asks the
fleet through Celery in threads of its own, so it never queues behind the request pool."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

import redis.asyncio
from celery import Celery
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from chorus.contract import names
from chorus.orchestrator_service.api.store_errors import STORE_FULL, STORE_UNAVAILABLE
from chorus.store.health import aprobe

log = logging.getLogger(__name__)

INSPECT_TIMEOUT_S = 1.0  # how long consumers have to answer; /readyz stays within 2 s


def consuming_queues(celery: Celery) -> set[str]:
    queues = celery.control.inspect(timeout=INSPECT_TIMEOUT_S).active_queues() or {}
    return {q["name"] for consumers in queues.values() for q in consumers}


def add_health_routes(api: FastAPI, probe: redis.asyncio.Redis, celery: Celery) -> None:
    inspecting = ThreadPoolExecutor(2, thread_name_prefix="readyz")

    @api.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        checks = {"redis": False, "orchestrator": False, "worker": False}
        health = await aprobe(probe)
        reason = STORE_UNAVAILABLE if not health.up else STORE_FULL if health.full else None
        if reason is None:
            checks["redis"] = True
            try:
                loop = asyncio.get_running_loop()
                found = await loop.run_in_executor(inspecting, consuming_queues, celery)
            except Exception as exc:
                log.warning("readiness check failed: %s", type(exc).__name__)
                found = set()
            checks["orchestrator"] = names.ORCHESTRATOR_QUEUE in found
            checks["worker"] = names.SUBTASKS_QUEUE in found
            missing = [role for role in ("orchestrator", "worker") if not checks[role]]
            if missing:
                reason = f"no {' or '.join(missing)} process consuming its queue"
        body: dict[str, object] = {"ready": reason is None, **checks}
        if reason is not None:
            body["reason"] = reason
        return JSONResponse(body, status_code=200 if reason is None else 503)
