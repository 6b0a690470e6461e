"""Drive the simulator's control endpoints from tests: fault rules, counters."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


class SimulatorControl:
    def __init__(self, url: str) -> None:
        self.url = url

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - loopback URL from the fixture
            self.url + path, data=data, method=method, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.loads(response.read() or b"null")

    def reset(self) -> None:
        self._call("POST", "/_simulator/reset")

    def set_faults(
        self,
        rules: list[dict[str, Any]] | None = None,
        *,
        fail_every: int | None = None,
        fail_status: int | None = None,
    ) -> None:
        body = {"rules": rules or [], "fail_every": fail_every, "fail_status": fail_status}
        self._call("PUT", "/_simulator/faults", body)

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/_simulator/stats")
        return result

    def requests(self) -> list[dict[str, Any]]:
        """The model and text of the last requests the simulator answered, oldest first."""
        found: list[dict[str, Any]] = self._call("GET", "/_simulator/requests")
        return found
