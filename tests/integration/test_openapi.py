"""The API's OpenAPI document tells the truth: the bearer scheme, the error bodies it really
answers with, one tag per area, the package's version; and `/docs` works offline, every
file it needs served by the API itself."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from datamodel_code_generator import generate
from datamodel_code_generator.enums import DataModelType, InputFileType
from openapi_spec_validator import validate

from chorus.contract.models import JobRecord
from tests.support.api_server import idle_api

IDLE_DB = 10  # no orchestrator consumes it: the job submitted below stays `planning`
TOKEN = "openapi-token-0123456789"
AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def api(redis_url: str, workdir: Path) -> Iterator[str]:
    env = {"CHORUS_API_TOKENS": f"carol:{TOKEN}"}
    with idle_api(redis_url, IDLE_DB, workdir / "openapi-api.log", env) as (_, url, _client):
        yield url


@pytest.fixture(scope="module")
def document(api: str) -> dict[str, Any]:
    found: dict[str, Any] = httpx.get(api + "/openapi.json", timeout=10).json()
    return found


def _schema(document: dict[str, Any], ref: str) -> dict[str, Any]:
    """A component schema the way a generated client would use it, refs resolvable."""
    return {"$ref": ref, "components": document["components"]}


def test_the_document_names_the_version_the_bearer_scheme_and_a_tag_per_area(
    document: dict[str, Any],
) -> None:
    import chorus

    assert document["info"]["version"] == chorus.__version__
    schemes = document["components"]["securitySchemes"]
    assert schemes == {
        "HTTPBearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "A tenant's token from CHORUS_API_TOKENS.",
        }
    }
    assert {t["name"] for t in document["tags"]} >= {"jobs", "events", "profiles", "health"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("tags"), f"{method} {path} has no tag"
            if path.startswith("/v1/"):
                # Swagger's Authorize button sends the token on every tenant route.
                assert operation.get("security") == [{"HTTPBearer": []}], (method, path)


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)  # raises, naming the first rule the document breaks


def test_each_route_documents_the_errors_it_really_answers_with(
    document: dict[str, Any],
) -> None:
    paths = document["paths"]
    expected = {
        ("post", "/v1/jobs"): {"401", "409", "411", "413", "422", "503"},
        ("get", "/v1/jobs"): {"401", "422", "503"},
        ("get", "/v1/jobs/{job_id}"): {"401", "404", "422", "503"},
        ("post", "/v1/jobs/{job_id}/cancel"): {"401", "404", "411", "413", "422", "503"},
        ("get", "/v1/jobs/{job_id}/events"): {"401", "404", "422", "503"},
    }
    for (method, path), statuses in expected.items():
        responses = paths[path][method]["responses"]
        assert statuses <= set(responses), (method, path, sorted(responses))
        for status in statuses:
            ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
            body = "InvalidBody" if status == "422" else "ErrorBody"
            assert ref == f"#/components/schemas/{body}", (method, path, status)
    # FastAPI's own `{"detail": [...]}` shape is what the API never answers with.
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_real_error_answers_match_the_documented_bodies(api: str, document: dict[str, Any]) -> None:
    invalid = httpx.post(api + "/v1/jobs", json={"task": " "}, headers=AUTH, timeout=10)
    assert invalid.status_code == 422
    jsonschema.validate(invalid.json(), _schema(document, "#/components/schemas/InvalidBody"))
    assert invalid.json()["fields"][0]["field"] == "task"
    for answer, status in (
        (httpx.get(api + "/v1/jobs/nope", headers=AUTH, timeout=10), 404),
        (httpx.get(api + "/v1/jobs/nope", timeout=10), 401),
    ):
        assert answer.status_code == status
        jsonschema.validate(answer.json(), _schema(document, "#/components/schemas/ErrorBody"))
    accepted = httpx.post(api + "/v1/jobs", json={"task": "Documented"}, headers=AUTH, timeout=10)
    assert accepted.status_code == 202
    record = httpx.get(api + accepted.headers["location"], headers=AUTH, timeout=10).json()
    jsonschema.validate(record, _schema(document, "#/components/schemas/JobRecord"))
    assert JobRecord.model_validate(record).status.value == "planning"


# The generator announces a change of its default code formatter: nothing this test reads.
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_a_client_generated_from_the_document_parses_the_apis_422(
    api: str, document: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The models a generated client would use, written by a code generator from the document
    # alone, then imported and fed the API's real answers.
    source = generate(
        json.dumps(document),
        input_file_type=InputFileType.OpenAPI,
        output_model_type=DataModelType.PydanticV2BaseModel,
    )
    assert isinstance(source, str)
    module_path = tmp_path / "generated_chorus_models.py"
    module_path.write_text(source)
    spec = importlib.util.spec_from_file_location("generated_chorus_models", module_path)
    assert spec is not None and spec.loader is not None
    generated = importlib.util.module_from_spec(spec)
    # Registered as a real module would be, so its postponed annotations resolve.
    monkeypatch.setitem(sys.modules, spec.name, generated)
    spec.loader.exec_module(generated)

    answer = httpx.post(api + "/v1/jobs", json={"context": []}, headers=AUTH, timeout=10)
    assert answer.status_code == 422
    parsed = generated.InvalidBody.model_validate(answer.json())
    assert {f.field for f in parsed.fields} >= {"task", "context"}
    assert all(f.message for f in parsed.fields) and parsed.error
    missing = httpx.get(api + "/v1/jobs/nope", headers=AUTH, timeout=10)
    assert generated.ErrorBody.model_validate(missing.json()).error == "no job 'nope'"


def test_docs_work_offline_with_every_file_served_by_the_api(api: str) -> None:
    page = httpx.get(api + "/docs", timeout=10)
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    linked = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert linked, page.text
    for url in linked:
        # Nothing from another host: no CDN, no external font.
        assert url.startswith("/"), f"/docs links outside the API: {url}"
        asset = httpx.get(api + url, timeout=10)
        assert asset.status_code == 200 and len(asset.content) > 1000, url
    assert "/openapi.json" in page.text
    assert httpx.get(api + "/docs/assets/../../etc/passwd", timeout=10).status_code == 404
    assert httpx.get(api + "/docs/assets/nothing.js", timeout=10).status_code == 404
