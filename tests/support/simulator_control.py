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

    def set_limits(self, limits: dict[str, dict[str, int]]) -> None:
        """Per-model rate limits until the next reset, e.g.
        `{"claude-haiku-5-5": {"requests_per_minute": 2}}`; `{}` turns them off."""
        self._call("PUT", "/_simulator/limits", {"limits": limits})

    def set_batches(self, *, delay_s: float | None = None, **expiry: float | None) -> None:
        """Message Batches timing until the next reset: each request done `delay_s` after
        its batch was created (+ up to 20% jitter); `expire_after_s=x` ends a batch still
        processing x seconds after its creation, its unfinished requests expired
        (`expire_after_s=None`: 24 hours). Left out: unchanged."""
        body: dict[str, Any] = {"delay_s": delay_s} if delay_s is not None else {}
        self._call("PUT", "/_simulator/batches", body | expiry)

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/_simulator/stats")
        return result

    def requests(self) -> list[dict[str, Any]]:
        """The last requests the simulator answered, oldest first: model, text, and
        started_at, finished_at (time.time() on the simulator) and status; `stream`, and for
        a streamed reply `first_token_at` (when its first text piece went out)."""
        found: list[dict[str, Any]] = self._call("GET", "/_simulator/requests")
        return found
