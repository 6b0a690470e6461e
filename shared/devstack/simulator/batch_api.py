"""The Message Batches endpoints (`/v1/messages/batches...`) and their test control
(`PUT /_simulator/batches`). How a batch is played is told in batches.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pydantic
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from chorus.devstack.simulator.batches import Batch, BatchesUpdate, BatchRequest, parse_batch
from chorus.devstack.simulator.billing import billed_message
from chorus.devstack.simulator.faults import error_body
from chorus.devstack.simulator.replies import request_text
from chorus.devstack.simulator.state import SimulatorState
from chorus.devstack.simulator.validation import Refusal

_HEADERS = {"x-chorus-simulator": "1"}


def _error(status: int, message: str, kind: str) -> JSONResponse:
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return JSONResponse(body, status_code=status, headers=_HEADERS)


def _refused(refusal: Refusal) -> JSONResponse:
    return _error(refusal.status, refusal.message, refusal.kind)


def _errored(kind: str, message: str) -> dict[str, Any]:
    error = {"type": "error", "error": {"type": kind, "message": message}}
    return {"type": "errored", "error": error}


def run_request(state: SimulatorState, batch: Batch, entry: BatchRequest) -> None:
    """One request of a batch, run as `POST /v1/messages` would answer it, minus the wire:
    counted in the stats and in `/_simulator/requests`, its result kept for the results file."""
    request = entry.parsed
    if isinstance(request, Refusal):  # counted like a refused call: by status only
        state.by_status[str(request.status)] += 1
        entry.result = _errored(request.kind, request.message)
        return
    state.count(request.model, entry.done_at)
    text = request_text(request)
    seen: dict[str, Any] = {
        "model": request.model,
        "text": text,
        "started_at": entry.done_at,
        "stream": False,
        "batch": batch.id,
        "custom_id": entry.custom_id,
    }
    fault = state.faults.decide(state.calls, text)
    if fault is not None and fault.status is not None:
        status = fault.status
        entry.result = {"type": "errored", "error": error_body(status)}
    else:
        body, charge = billed_message(state, request, text, fault, seen)
        state.cache.begin(charge)  # a batch reply is whole at once: its entries usable now
        status = 200
        entry.result = {"type": "succeeded", "message": body}
    state.by_status[str(status)] += 1
    seen |= {"status": status, "finished_at": entry.done_at}
    state.recent.append(seen)


def install_batches(
    app: FastAPI, state: SimulatorState, authorised: Callable[[Request], bool]
) -> None:
    def settled(batch_id: str) -> Batch | None:
        """The batch with every request whose time has come run, or None if unknown."""
        batch = state.batches.batches.get(batch_id)
        if batch is not None:
            for entry in batch.due(state.batches.clock()):
                run_request(state, batch, entry)
        return batch

    def shown(batch: Batch, http: Request) -> dict[str, Any]:
        return batch.view(state.batches.clock(), str(http.base_url).rstrip("/"))

    def unknown(batch_id: str) -> JSONResponse:
        return _error(404, f"message batch {batch_id!r} not found", "not_found_error")

    def unauthorised() -> JSONResponse:
        return _error(401, "invalid x-api-key", "authentication_error")

    @app.post("/v1/messages/batches")
    async def create_batch(http: Request) -> Response:
        if not authorised(http):
            return unauthorised()
        parsed = parse_batch(await http.body(), state.config)
        if isinstance(parsed, Refusal):
            return _refused(parsed)
        batch = state.batches.create(parsed)
        settled(batch.id)  # a zero delay ends it at once
        return JSONResponse(shown(batch, http), headers=_HEADERS)

    @app.get("/v1/messages/batches")
    async def list_batches(
        http: Request, limit: int = 20, after_id: str | None = None, before_id: str | None = None
    ) -> Response:
        if not authorised(http):
            return unauthorised()
        page = state.batches.page(limit, after_id, before_id)
        if isinstance(page, Refusal):
            return _refused(page)
        found, more = page
        data = [shown(b, http) for b in found if settled(b.id)]
        body = {
            "data": data,
            "has_more": more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
        return JSONResponse(body, headers=_HEADERS)

    @app.get("/v1/messages/batches/{batch_id}")
    async def retrieve_batch(http: Request, batch_id: str) -> Response:
        if not authorised(http):
            return unauthorised()
        batch = settled(batch_id)
        if batch is None:
            return unknown(batch_id)
        return JSONResponse(shown(batch, http), headers=_HEADERS)

    @app.get("/v1/messages/batches/{batch_id}/results")
    async def batch_results(http: Request, batch_id: str) -> Response:
        if not authorised(http):
            return unauthorised()
        batch = settled(batch_id)
        if batch is None:
            return unknown(batch_id)
        if batch.status(state.batches.clock()) != "ended":
            message = f"message batch {batch_id!r} has not ended: its results are not ready"
            return _error(400, message, "invalid_request_error")
        # The SDK asks for application/binary and reads the body as JSON Lines.
        return Response(batch.results_jsonl(), media_type="application/binary", headers=_HEADERS)

    @app.post("/v1/messages/batches/{batch_id}/cancel")
    async def cancel_batch(http: Request, batch_id: str) -> Response:
        if not authorised(http):
            return unauthorised()
        batch = settled(batch_id)
        if batch is None:
            return unknown(batch_id)
        state.batches.cancel(batch)
        return JSONResponse(shown(batch, http), headers=_HEADERS)

    @app.put("/_simulator/batches")
    async def batch_settings(http: Request) -> JSONResponse:
        if not authorised(http):
            return unauthorised()
        try:
            update = BatchesUpdate.model_validate_json(await http.body())
        except pydantic.ValidationError as exc:
            message = f"invalid batch settings: {exc.errors()[0]['msg']}"
            return _error(400, message, "invalid_request_error")
        state.batches.update(update)
        book = state.batches
        return JSONResponse({"delay_s": book.delay_s, "expire_after_s": book.expire_after_s})
