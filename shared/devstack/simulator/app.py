"""The simulator's HTTP app: an Anthropic-compatible `POST /v1/messages` plus test controls."""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from chorus.devstack.simulator import streaming
from chorus.devstack.simulator.batch_api import install_batches
from chorus.devstack.simulator.billing import billed_message
from chorus.devstack.simulator.cache import CacheCharge, input_tokens
from chorus.devstack.simulator.config import ModelLimits, SimulatorConfig
from chorus.devstack.simulator.faults import Fault, FaultRule, error_body
from chorus.devstack.simulator.replies import request_text
from chorus.devstack.simulator.state import SimulatorState
from chorus.devstack.simulator.validation import MessagesRequest, Refusal, validate_request

SIM_HEADER = {"x-chorus-simulator": "1"}


class FaultsUpdate(BaseModel):
    rules: list[FaultRule] = Field(default_factory=list)
    fail_every: int | None = Field(default=None, ge=0)
    fail_status: int | None = Field(default=None, ge=400, le=599)


class LimitsUpdate(BaseModel):
    """Replaces the per-model rate limits until the next reset; `{}` turns them off."""

    limits: dict[str, ModelLimits] = Field(default_factory=dict)


def trickled(payload: bytes, every_s: float, headers: dict[str, str]) -> StreamingResponse:
    """A reply sent one byte every `every_s` seconds, like a stalled proxy: no single read
    waits long, so only a deadline on the whole call ends it. Stops when the client leaves."""

    async def drip() -> AsyncIterator[bytes]:
        for i in range(len(payload)):
            yield payload[i : i + 1]
            await asyncio.sleep(every_s)

    return StreamingResponse(drip(), media_type="application/json", headers=headers)


def error(
    status: int, message: str | None = None, kind: str | None = None, **extra: str
) -> JSONResponse:
    body = error_body(status)
    detail = body["error"]
    assert isinstance(detail, dict)
    detail |= {"message": message or detail["message"], "type": kind or detail["type"]}
    headers = dict(SIM_HEADER) | extra
    if status == 429 and "retry-after" not in headers:  # an injected 429: a one-second wait
        reset = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        headers |= {"retry-after": "1", "anthropic-ratelimit-requests-reset": reset}
    return JSONResponse(body, status_code=status, headers=headers)


async def reply(
    state: SimulatorState, request: MessagesRequest, text: str, seen: dict[str, Any] | None = None
) -> Response:
    """The response to a valid, counted request: a rate-limit refusal, a fault, or a message
    (streamed when asked: `seen` gets the wall time its first text piece went out)."""
    model = request.model
    admitted = state.limits.admit(model, input_tokens(request.model_dump()))
    if not admitted.allowed:
        return error(429, admitted.message, **admitted.headers)
    fault = state.faults.decide(state.calls, text)
    if fault is not None and fault.status is not None:
        await asyncio.sleep(state.latency.base_ms() / 1000)
        return error(fault.status)
    if fault is not None and fault.raw_body is not None:
        await asyncio.sleep(state.latency.base_ms() / 1000)
        return Response(fault.raw_body, media_type=fault.content_type, headers=SIM_HEADER)
    seen = seen if seen is not None else {}
    body, charge = billed_message(state, request, text, fault, seen)
    if request.stream:
        return _streamed_reply(state, body, fault, seen, charge)
    usage = body["usage"]
    await asyncio.sleep(state.latency.total_ms(usage["output_tokens"], _uncached(usage)) / 1000)
    state.cache.begin(charge)  # the response starts now: its cache entries become usable
    headers = SIM_HEADER | state.limits.record_output(model, body["usage"]["output_tokens"])
    if fault is not None and fault.trickle_s is not None:
        return trickled(json.dumps(body).encode(), fault.trickle_s, headers)
    return JSONResponse(body, headers=headers)


def _uncached(usage: dict[str, Any]) -> int:
    """The input tokens the model had to read: all but those served from the cache."""
    return int(usage["input_tokens"]) + int(usage["cache_creation_input_tokens"])


def _streamed_reply(
    state: SimulatorState,
    body: dict[str, Any],
    fault: Fault | None,
    seen: dict[str, Any],
    charge: CacheCharge,
) -> Response:
    """Headers at once (as the API sends them), then the events at the configured pace."""
    tokens = body["usage"]["output_tokens"]
    base_s = state.latency.base_ms(_uncached(body["usage"])) / 1000
    total_s = base_s + state.config.ms_per_output_token * tokens / 1000
    first_s, gap_s = streaming.piece_timing(body, total_s, base_s, state.config.stream_tokens_per_s)
    headers = SIM_HEADER | state.limits.record_output(body["model"], tokens)
    stream = streaming.events(
        body,
        first_s=first_s,
        gap_s=gap_s,
        cut_after=fault.cut_after_tokens if fault else None,
        error_after=fault.error_after_tokens if fault else None,
        on_first_text=lambda at: seen.setdefault("first_token_at", at),
        on_start=lambda: state.cache.begin(charge),  # message_start is out: the reply began
    )
    if fault is not None and fault.trickle_s is not None:
        stream = streaming.dripped(stream, fault.trickle_s)

    def ended() -> None:
        state.leave(body["model"])
        seen["finished_at"] = time.time()

    return streaming.streamed(stream, headers, ended)


def create_simulator_app(config: SimulatorConfig) -> FastAPI:
    app = FastAPI(title="Chorus model simulator", docs_url=None, redoc_url=None)
    state = SimulatorState(config)

    def authorised(http: Request) -> bool:
        if config.api_key is None:
            return True
        # The SDK sends `x-api-key` or `Authorization: Bearer`, depending on its version.
        bearer = http.headers.get("authorization", "").removeprefix("Bearer ")
        given = http.headers.get("x-api-key") or bearer
        return hmac.compare_digest(given.encode(), config.api_key.encode())

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "simulator": True}

    @app.post("/v1/messages")
    async def messages(http: Request) -> Response:
        started_at = time.time()
        if not authorised(http):
            return error(401, "invalid x-api-key")
        request = validate_request(await http.body(), config)
        if isinstance(request, Refusal):
            state.by_status[str(request.status)] += 1
            return error(request.status, request.message, request.kind)
        state.count(request.model, started_at)
        state.enter(request.model)
        text = request_text(request)
        seen: dict[str, Any] = {
            "model": request.model,
            "text": text,
            "started_at": started_at,
            "stream": request.stream,
        }
        state.recent.append(seen)
        status, held = 500, False  # what a crash below would answer
        try:
            response = await reply(state, request, text, seen)
            status, held = response.status_code, isinstance(response, streaming.HeldStream)
            return response
        finally:
            state.by_status[str(status)] += 1
            seen["status"] = status
            if not held:  # a streamed reply leaves when its last event is out
                state.leave(request.model)
                # A trickled reply ends later than this: its headers are out, its body is not.
                seen["finished_at"] = time.time()

    @app.get("/_simulator/stats")
    async def stats(http: Request) -> JSONResponse:
        if not authorised(http):
            return error(401)
        return JSONResponse(state.stats())

    @app.get("/_simulator/requests")
    async def recent(http: Request) -> JSONResponse:
        """The last requests' model, text (system and messages joined), start and end times
        (time.time() here) and status, oldest first; a call still running has no end yet.
        A streamed call (`stream` true) ends with its last event, and has the time its first
        text piece was sent as `first_token_at`. A call that got as far as a reply has its
        `usage` (input, output, cache creation and cache read tokens)."""
        if not authorised(http):
            return error(401)
        return JSONResponse(list(state.recent))

    @app.put("/_simulator/faults")
    async def faults(http: Request) -> JSONResponse:
        if not authorised(http):
            return error(401)
        try:
            update = FaultsUpdate.model_validate_json(await http.body())
        except pydantic.ValidationError as exc:
            return error(400, f"invalid faults: {exc.errors()[0]['msg']}")
        state.faults.replace(update.rules, update.fail_every, update.fail_status)
        return JSONResponse({"rules": len(update.rules)})

    @app.put("/_simulator/limits")
    async def limits(http: Request) -> JSONResponse:
        if not authorised(http):
            return error(401)
        try:
            update = LimitsUpdate.model_validate_json(await http.body())
        except pydantic.ValidationError as exc:
            return error(400, f"invalid limits: {exc.errors()[0]['msg']}")
        state.limits.replace(update.limits)
        return JSONResponse({"models": sorted(update.limits)})

    @app.post("/_simulator/reset")
    async def reset(http: Request) -> JSONResponse:
        if not authorised(http):
            return error(401)
        state.reset()
        return JSONResponse({"reset": True})

    install_batches(app, state, authorised)
    return app
