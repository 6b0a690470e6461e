"""Redis away or full, answered in one place for every route: 503 with what is wrong, never
a 500 and never a minute of waiting (the API's Redis clients and its Celery publisher are
fail-fast, so the error comes within `limits.FAIL_FAST_REDIS_S`)."""

from __future__ import annotations

import logging

import kombu.exceptions
import redis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from chorus.store.health import UNREACHABLE

log = logging.getLogger(__name__)

STORE_UNAVAILABLE = "store unavailable"
STORE_FULL = "store full: Redis is out of memory; try again later"
RETRY_AFTER_S = 2


def store_problem(exc: BaseException | None) -> str | None:
    """What an error says about the store, if anything. Kombu re-raises Redis's errors as
    its own (an out-of-memory refusal as an OperationalError), the original as the cause, so
    the whole chain is read."""
    chain: list[BaseException] = []
    while exc is not None and all(exc is not seen for seen in chain):
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    if any(isinstance(e, redis.exceptions.OutOfMemoryError) for e in chain):
        return STORE_FULL
    if any(isinstance(e, (*UNREACHABLE, kombu.exceptions.OperationalError)) for e in chain):
        return STORE_UNAVAILABLE
    return None


def store_error_response(problem: str) -> JSONResponse:
    return JSONResponse(
        {"error": problem}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)}
    )


def add_store_error_handlers(api: FastAPI) -> None:
    async def store_error(_: Request, exc: Exception) -> JSONResponse:
        problem = store_problem(exc)
        if problem is None:
            log.error("API request failed: %s", type(exc).__name__)
            return JSONResponse({"error": "internal error"}, status_code=500)
        log.warning("API request refused, %s: %s", problem, type(exc).__name__)
        return store_error_response(problem)

    # kombu.exceptions.ChannelError is py-amqp's, outside KombuError.
    for kind in (redis.RedisError, kombu.exceptions.KombuError, kombu.exceptions.ChannelError):
        api.add_exception_handler(kind, store_error)
