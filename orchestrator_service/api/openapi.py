"""What the API's OpenAPI document says beyond the routes: the bearer scheme (Swagger's
Authorize button), the error bodies the API really answers with, one tag per area, and the
docs page served with its own assets, so `/docs` works offline and behind a firewall."""

from __future__ import annotations

from importlib import metadata, resources
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel

# One scheme for every tenant route; auto_error=False so a missing token gets the API's own
# 401 body, not FastAPI's.
bearer = HTTPBearer(auto_error=False, description="A tenant's token from CHORUS_API_TOKENS.")

TAGS = [
    {"name": "jobs", "description": "Submit, read, list and cancel jobs."},
    {"name": "events", "description": "A job's progress as Server-Sent Events."},
    {"name": "profiles", "description": "The prompt profiles jobs can name."},
    {"name": "health", "description": "Liveness and readiness, no token needed."},
    {"name": "metrics", "description": "Prometheus metrics for the fleet."},
]


class ErrorBody(BaseModel):
    error: str


class FieldProblem(BaseModel):
    field: str
    message: str


class InvalidBody(BaseModel):
    error: str
    fields: list[FieldProblem]


_WHY = {
    401: "missing or invalid bearer token",
    404: "no such job for this tenant",
    409: "the job id or Idempotency-Key is taken by a different request, or the job is not "
    "in a state that allows this action (e.g. a review of a job not awaiting review)",
    411: "a chunked body: its size cannot be checked up front",
    413: "body over CHORUS_API_MAX_BODY_BYTES",
    422: "the request breaks a rule; `fields` names each one",
    503: "the store is unavailable or full, or too many event streams are open",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route: each status with its real body model."""
    return {
        status: {"model": InvalidBody if status == 422 else ErrorBody, "description": _WHY[status]}
        for status in statuses
    }


def package_version() -> str:
    """The installed distribution's version, the one `chorus --version` prints."""
    return metadata.version("chorus-jobs")


_ASSETS = {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}


def add_offline_docs(api: FastAPI) -> None:
    """`/docs` from Swagger UI files shipped in an installed package, never a CDN."""
    static = resources.files("fastapi_offline") / "static"

    @api.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=api.openapi_url or "/openapi.json",
            title=f"{api.title} docs",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon.png",
        )

    @api.get("/docs/assets/{name}", include_in_schema=False)
    def asset(name: str) -> FileResponse:
        if name not in _ASSETS:
            raise HTTPException(404, f"no asset {name!r}")
        return FileResponse(str(static / name))
