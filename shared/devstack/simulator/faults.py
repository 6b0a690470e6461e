"""Fault injection: which calls fail, and how. Pure logic; the app applies the decision."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field, model_validator

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


class FaultRule(BaseModel):
    """Calls whose text contains `match` get one effect: an error `status`; a message whose
    text is `body`; a 200 whose whole body is `raw_body` (sent as `content_type`), which is not
    a message at all; the normal reply trickled one byte every `trickle_s` seconds; or, for a
    streamed call (`stream: true`; a plain call answers normally), the stream cut after
    `cut_after_tokens` text pieces (no `message_stop`, the connection dropped) or ended after
    `error_after_tokens` by an `overloaded_error` event, as the real API does mid-stream."""

    match: str = Field(min_length=1)
    status: int | None = Field(default=None, ge=400, le=599)
    body: str | None = None
    raw_body: str | None = None
    content_type: str = Field(default="text/html; charset=utf-8", min_length=1)
    trickle_s: float | None = Field(default=None, gt=0, le=60)
    cut_after_tokens: int | None = Field(default=None, ge=0)
    error_after_tokens: int | None = Field(default=None, ge=0)
    times: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_effect(self) -> FaultRule:
        effects = (
            self.status,
            self.body,
            self.raw_body,
            self.trickle_s,
            self.cut_after_tokens,
            self.error_after_tokens,
        )
        if sum(effect is not None for effect in effects) != 1:
            raise ValueError(
                "give exactly one of status, body, raw_body, trickle_s, cut_after_tokens "
                "or error_after_tokens"
            )
        return self


@dataclass(frozen=True)
class Fault:
    status: int | None = None
    body: str | None = None
    raw_body: str | None = None
    content_type: str = "text/html; charset=utf-8"
    trickle_s: float | None = None
    cut_after_tokens: int | None = None
    error_after_tokens: int | None = None


def error_body(status: int) -> dict[str, object]:
    kind = ERROR_TYPES.get(status, "api_error")
    message = f"simulated {kind} ({status})"
    return {"type": "error", "error": {"type": kind, "message": message}}


class FaultPlan:
    """The rules in force and how often each has fired. One asyncio loop: no locking."""

    def __init__(self, fail_every: int = 0, fail_status: int = 529) -> None:
        self.fail_every = fail_every
        self.fail_status = fail_status
        self.rules: list[FaultRule] = []
        self._fired: list[int] = []

    def replace(
        self, rules: list[FaultRule], fail_every: int | None, fail_status: int | None
    ) -> None:
        self.rules = list(rules)
        self._fired = [0] * len(rules)
        if fail_every is not None:
            self.fail_every = fail_every
        if fail_status is not None:
            self.fail_status = fail_status

    def decide(self, call_number: int, request_text: str) -> Fault | None:
        if self.fail_every and call_number % self.fail_every == 0:
            return Fault(status=self.fail_status)
        for i, rule in enumerate(self.rules):
            if rule.match in request_text and (rule.times is None or self._fired[i] < rule.times):
                self._fired[i] += 1
                return Fault(
                    status=rule.status,
                    body=rule.body,
                    raw_body=rule.raw_body,
                    content_type=rule.content_type,
                    trickle_s=rule.trickle_s,
                    cut_after_tokens=rule.cut_after_tokens,
                    error_after_tokens=rule.error_after_tokens,
                )
        return None
