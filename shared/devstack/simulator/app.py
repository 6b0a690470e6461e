"""The simulator's HTTP app: an Anthropic-compatible `POST /v1/messages` plus test controls."""

from __future__ import annotations

import asyncio
import hmac
import json
import time
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from chorus.devstack.simulator.cache import PromptCache
from chorus.devstack.simulator.config import SimulatorConfig
from chorus.devstack.simulator.faults import FaultPlan, FaultRule, error_body
from chorus.devstack.simulator.generation import estimate_tokens, generate_instance, generate_text

SIM_HEADER = {"x-chorus-simulator": "1"}


class MessagesRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str = Field(min_length=1)
    max_tokens: int = Field(ge=1)
    messages: list[dict[str, Any]] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None
    output_config: dict[str, Any] | None = None
    stream: bool = False


class FaultsUpdate(BaseModel):
    rules: list[FaultRule] = Field(default_factory=list)
    fail_every: int | None = Field(default=None, ge=0)
    fail_status: int | None = Field(default=None, ge=400, le=599)


RECENT_REQUESTS = 500


def request_text(request: MessagesRequest) -> str:
    parts: list[str] = []
    if isinstance(request.system, str):
        parts.append(request.system)
    elif request.system:
        parts.extend(str(b.get("text", "")) for b in request.system)
    for message in request.messages:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return "\n".join(parts)


def trickled(payload: bytes, every_s: float) -> StreamingResponse:
    """A reply sent one byte every `every_s` seconds, like a stalled proxy: no single read
    waits long, so only a deadline on the whole call ends it. Stops when the client leaves."""

    async def drip() -> AsyncIterator[bytes]:
        for i in range(len(payload)):
            yield payload[i : i + 1]
            await asyncio.sleep(every_s)

    return StreamingResponse(drip(), media_type="application/json", headers=SIM_HEADER)


def error(status: int, message: str | None = None) -> JSONResponse:
    body = error_body(status)
    if message:
        body["error"] = {**body["error"], "message": message}  # type: ignore[dict-item]
    headers = dict(SIM_HEADER)
    if status == 429:
        reset = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        headers |= {"retry-after": "1", "anthropic-ratelimit-requests-reset": reset}
    return JSONResponse(body, status_code=status, headers=headers)


class SimulatorState:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.faults = FaultPlan(config.fail_every, config.fail_status)
        self.cache = PromptCache(config.cache_min_tokens)
        self.reset()

    def reset(self) -> None:
        self.faults.replace([], self.config.fail_every, self.config.fail_status)
        self.cache.clear()
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.by_status: Counter[str] = Counter()
        self.by_model: Counter[str] = Counter()
        self.tokens: Counter[str] = Counter()
        self.request_times: deque[float] = deque(maxlen=10_000)
        self.request_times_by_model: dict[str, deque[float]] = {}
        # What the model was sent, for tests that check where a template put the task.
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_REQUESTS)

    def stats(self) -> dict[str, Any]:
        return {
            "requests_total": self.calls,
            "responses_by_status": dict(self.by_status),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "requests_by_model": dict(self.by_model),
            "request_times": list(self.request_times),
            "request_times_by_model": {m: list(t) for m, t in self.request_times_by_model.items()},
            **{k: self.tokens[k] for k in _TOKEN_FIELDS},
        }


_TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


def answer(state: SimulatorState, request: MessagesRequest, text: str) -> dict[str, Any]:
    """The assistant message for a request that passed the fault plan."""
    fmt = (request.output_config or {}).get("format") or {}
    size = state.config.plan_size
    choice = request.tool_choice or {}
    stop_reason = "end_turn"
    if fmt.get("type") == "json_schema":
        value = generate_instance(fmt.get("schema", {}), text, list_size=size)
        content: list[dict[str, Any]] = [{"type": "text", "text": json.dumps(value)}]
    elif choice.get("type") == "tool":
        tool = next((t for t in request.tools or [] if t.get("name") == choice.get("name")), {})
        value = generate_instance(tool.get("input_schema", {}), text, list_size=size)
        block_id = "toolu_sim_" + uuid.uuid4().hex[:20]
        content = [{"type": "tool_use", "id": block_id, "name": choice["name"], "input": value}]
        stop_reason = "tool_use"
    else:
        reply = generate_text(text)
        if "<response>" in text:  # a prompt that asks for its answer in a <response> element
            reply = f"<response>\n{reply}\n</response>"
        if len(reply) > request.max_tokens * 4:
            reply, stop_reason = reply[: request.max_tokens * 4], "max_tokens"
        content = [{"type": "text", "text": reply}]
    return {
        "id": "msg_sim_" + uuid.uuid4().hex[:24],
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
    }


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
        if not authorised(http):
            return error(401, "invalid x-api-key")
        try:
            request = MessagesRequest.model_validate(json.loads(await http.body()))
        except (ValueError, pydantic.ValidationError) as exc:
            return error(400, f"invalid request: {str(exc).splitlines()[0][:200]}")
        if request.stream:
            return error(400, "simulator does not stream")
        state.calls += 1
        now = time.time()
        state.request_times.append(now)
        state.request_times_by_model.setdefault(request.model, deque(maxlen=10_000)).append(now)
        state.by_model[request.model] += 1
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            text = request_text(request)
            state.recent.append({"model": request.model, "text": text})
            fault = state.faults.decide(state.calls, text)
            await asyncio.sleep(config.latency_ms / 1000)
            if fault is not None and fault.status is not None:
                state.by_status[str(fault.status)] += 1
                return error(fault.status)
            if fault is not None and fault.raw_body is not None:
                state.by_status["200"] += 1
                return Response(fault.raw_body, media_type=fault.content_type, headers=SIM_HEADER)
            body = answer(state, request, text)
            if fault is not None and fault.body is not None:
                body["content"] = [{"type": "text", "text": fault.body}]
            cached = state.cache.account(request.model_dump())
            out_text = json.dumps(body["content"])
            body["usage"] = {
                "input_tokens": cached.input_tokens,
                "output_tokens": estimate_tokens(out_text),
                "cache_creation_input_tokens": cached.cache_creation_input_tokens,
                "cache_read_input_tokens": cached.cache_read_input_tokens,
            }
            for field in _TOKEN_FIELDS:
                state.tokens[field] += body["usage"][field]
            state.by_status["200"] += 1
            if fault is not None and fault.trickle_s is not None:
                return trickled(json.dumps(body).encode(), fault.trickle_s)
            return JSONResponse(body, headers=SIM_HEADER)
        finally:
            state.in_flight -= 1

    @app.get("/_simulator/stats")
    async def stats(http: Request) -> JSONResponse:
        if not authorised(http):
            return error(401)
        return JSONResponse(state.stats())

    @app.get("/_simulator/requests")
    async def recent(http: Request) -> JSONResponse:
        """The last requests' model and text (system and messages joined), oldest first."""
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

    @app.post("/_simulator/reset")
    async def reset(http: Request) -> JSONResponse:
        if not authorised(http):
            return error(401)
        state.reset()
        return JSONResponse({"reset": True})

    return app
