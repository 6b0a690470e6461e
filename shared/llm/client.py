"""The model client: the only code that talks to a model, through the official anthropic SDK.

Without an API key it points the same SDK at the offline simulator via `base_url`, so the
production code path is the one exercised everywhere.
"""

from __future__ import annotations

from typing import Any

import anthropic
import pydantic
from anthropic import transform_schema
from anthropic.types import Usage as SdkUsage

from chorus.contract.models import JobRequest, SubtaskAssignment, Usage
from chorus.contract.plans import plan_format
from chorus.core import prompts
from chorus.core.ports import PlanReply, WorkerReply
from chorus.core.pricing import ModelPrice, priced
from chorus.errors import ModelCallError, PlanError
from chorus.llm.errors import classify_model_error
from chorus.llm.transport import ModelHttpClient
from chorus.settings import Settings

_SIMULATOR_KEY = "chorus-simulator"


def usage_from_sdk(usage: SdkUsage, price: ModelPrice | None) -> Usage:
    return priced(
        Usage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_creation_input_tokens=usage.cache_creation_input_tokens or 0,
            cache_read_input_tokens=usage.cache_read_input_tokens or 0,
        ),
        price,
    )


class ModelClient:
    def __init__(self, settings: Settings) -> None:
        self._prices = settings.prices
        self._timeout_s = settings.model_timeout_s
        key = settings.anthropic_api_key or settings.simulator_api_key
        self._client = anthropic.Anthropic(
            api_key=key.get_secret_value() if key else _SIMULATOR_KEY,
            base_url=settings.model_base_url,
            timeout=settings.model_timeout_s,
            http_client=ModelHttpClient(settings.model_timeout_s),
            # Celery owns retries (a waiting task holds no worker slot); two layers would multiply.
            max_retries=0,
        )

    def plan(
        self, request: JobRequest, *, model: str, max_tokens: int, feedback: str | None = None
    ) -> PlanReply:
        """Ask for a plan with structured output. Raises ModelCallError or PlanError."""
        try:
            prompt = prompts.for_planning(request, feedback)
            message = self._client.messages.parse(
                model=model,
                max_tokens=max_tokens,
                messages=prompt.messages,
                output_format=plan_format(request.options.tiers),
                **_system(prompt),
            )
        except pydantic.ValidationError as exc:
            raise PlanError(
                f"the model's plan did not match the plan schema ({_brief(exc)})"
            ) from exc
        except anthropic.AnthropicError as exc:
            raise classify_model_error(exc, timeout_s=self._timeout_s) from exc
        usage = usage_from_sdk(message.usage, self._prices.get(model))
        if message.stop_reason == "max_tokens":
            raise PlanError(
                "the model's plan was cut off at max_tokens; raise plan_max_tokens", usage=usage
            )
        draft = message.parsed_output
        if draft is None:
            raise PlanError("the model returned no plan", usage=usage)
        return PlanReply(draft=draft, usage=usage)

    def run_subtask(
        self, assignment: SubtaskAssignment, repair: prompts.Repair | None = None
    ) -> WorkerReply:
        """One worker call (JSON through structured output when the job has an output
        schema). Raises ModelCallError."""
        try:
            prompt = prompts.for_worker(assignment, repair)
            message = self._client.messages.create(
                model=assignment.model,
                max_tokens=assignment.max_tokens,
                messages=prompt.messages,
                **_system(prompt),
                **_json_output(assignment.output_schema),
            )
        except anthropic.AnthropicError as exc:
            raise classify_model_error(exc, timeout_s=self._timeout_s) from exc
        text = "".join(block.text for block in message.content if block.type == "text")
        if not text.strip():
            raise ModelCallError("the model returned an empty answer", retryable=True)
        return WorkerReply(
            output=text,
            usage=usage_from_sdk(message.usage, self._prices.get(assignment.model)),
            truncated=message.stop_reason == "max_tokens",
        )

    def synthesize(
        self,
        request: JobRequest,
        outputs: list[dict[str, str]],
        *,
        model: str,
        max_tokens: int,
        repair: prompts.Repair | None = None,
    ) -> WorkerReply:
        """Combine worker outputs into one answer. Raises ModelCallError."""
        try:
            prompt = prompts.for_synthesis(request, outputs, repair)
            message = self._client.messages.create(
                model=model,
                max_tokens=max_tokens,
                messages=prompt.messages,
                **_system(prompt),
                **_json_output(request.options.synthesis_schema),
            )
        except anthropic.AnthropicError as exc:
            raise classify_model_error(exc, timeout_s=self._timeout_s) from exc
        text = "".join(block.text for block in message.content if block.type == "text")
        return WorkerReply(
            output=text,
            usage=usage_from_sdk(message.usage, self._prices.get(model)),
            truncated=message.stop_reason == "max_tokens",
        )

    def close(self) -> None:
        self._client.close()


def _brief(exc: pydantic.ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or "plan"
    return f"{exc.error_count()} error(s); first at {where}: {first['msg']}"


def _system(prompt: prompts.Prompt) -> dict[str, Any]:
    """The `system` argument when the prompt has one (a job's own templates may not)."""
    return {"system": prompt.system} if prompt.system is not None else {}


def _json_output(schema: dict[str, Any] | None) -> dict[str, Any]:
    """Structured output for a job's schema, in the form the API takes (the SDK's transform:
    strict objects, bounds moved into descriptions; Chorus validates the whole schema after)."""
    if schema is None:
        return {}
    return {
        "output_config": {"format": {"type": "json_schema", "schema": transform_schema(schema)}}
    }
