"""A small typed Python client for the HTTP API: submit, get, wait, events, cancel, jobs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import httpx

from chorus.contract.events import EventKind, JobEvent
from chorus.contract.models import JobRecord, JobStatus


class ChorusApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class ChorusClient:
    def __init__(self, base_url: str, token: str | None = None, *, timeout_s: float = 30) -> None:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout_s)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                message = str(response.json().get("error", response.text))
            except ValueError:
                message = response.text
            raise ChorusApiError(response.status_code, message)
        return response.json()

    def submit(
        self,
        task: str,
        *,
        context: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        job_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> str:
        body: dict[str, Any] = {"task": task, "context": context or {}, "options": options or {}}
        if job_id:
            body["job_id"] = job_id
        headers = {"idempotency-key": idempotency_key} if idempotency_key else {}
        return str(self._call("POST", "/v1/jobs", json=body, headers=headers)["job_id"])

    def get(self, job_id: str) -> JobRecord:
        return JobRecord.model_validate(self._call("GET", f"/v1/jobs/{job_id}"))

    def wait(self, job_id: str, *, timeout_s: float = 600, poll_s: float = 0.5) -> JobRecord:
        deadline = time.monotonic() + timeout_s
        while True:
            record = self.get(job_id)
            if record.status.is_final:
                return record
            if time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} still {record.status.value}")
            time.sleep(poll_s)

    def cancel(self, job_id: str) -> JobRecord:
        return JobRecord.model_validate(self._call("POST", f"/v1/jobs/{job_id}/cancel"))

    def jobs(
        self, *, status: JobStatus | None = None, limit: int = 20, cursor: str | None = None
    ) -> tuple[list[JobRecord], str | None]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status.value
        if cursor:
            params["cursor"] = cursor
        page = self._call("GET", "/v1/jobs", params=params)
        return [JobRecord.model_validate(j) for j in page["jobs"]], page["next_cursor"]

    def events(self, job_id: str, *, last_event_id: str | None = None) -> Iterator[JobEvent]:
        """Follow the job's events until it ends; pass the last seen id to resume."""
        headers = {"last-event-id": last_event_id} if last_event_id else {}
        with self._http.stream(
            "GET", f"/v1/jobs/{job_id}/events", headers=headers, timeout=None
        ) as response:
            if response.status_code >= 400:
                response.read()
                raise ChorusApiError(response.status_code, response.text)
            fields: dict[str, str] = {}
            for line in response.iter_lines():
                if line.startswith(":"):
                    continue
                if line:
                    name, _, value = line.partition(": ")
                    fields[name] = value
                    continue
                if "event" in fields:
                    yield JobEvent(
                        id=fields["id"],
                        kind=EventKind(fields["event"]),
                        data=json.loads(fields["data"]),
                    )
                fields = {}

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ChorusClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
