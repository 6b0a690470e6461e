"""The model client: the only code that talks to a model, through the official anthropic SDK.

Without an API key it points the same SDK at the offline simulator via `base_url`, so the
production code path is the one exercised everywhere.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import anthropic
import httpx2
import pydantic
from anthropic import transform_schema
from anthropic.types import JSONOutputFormatParam, Message
from anthropic.types import Usage as SdkUsage

from chorus.contract.batches import BatchOutcome, BatchStatus
from chorus.contract.caching import CacheTtl, CacheUse
from chorus.contract.models import JobRequest, SubtaskAssignment, Usage
from chorus.contract.plans import PlanDraft, plan_format
from chorus.core import prompts
from chorus.core.ports import PlanReply, WorkerReply
from chorus.core.pricing import ModelPrice, priced
from chorus.errors import ModelCallError, PlanError
from chorus.llm import batches
from chorus.llm.errors import brief, classify_model_error
from chorus.llm.streaming import TextSink, stream_message
from chorus.llm.transport import ModelHttpClient
from chorus.settings import Settings

_SIMULATOR_KEY = "chorus-simulator"


def usage_from_sdk(usage: SdkUsage, price: ModelPrice | None, *, batch: bool = False) -> Usage:
    """The call's usage, priced (at the batch price for a Message Batches request)."""
    split = usage.cache_creation
    return priced(
        Usage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_creation_input_tokens=usage.cache_creation_input_tokens or 0,
            cache_read_input_tokens=usage.cache_read_input_tokens or 0,
            cache_write_1h_input_tokens=(split.ephemeral_1h_input_tokens or 0) if split else 0,
        ),
        price,
        batch=batch,
    )


class ModelClient:
    def __init__(self, settings: Settings) -> None:
        self._prices = settings.prices
        self._timeout_s = settings.model_timeout_s
        key = settings.anthropic_api_key or settings.simulator_api_key
        api_key = key.get_secret_value() if key else _SIMULATOR_KEY
        self._client = anthropic.Anthropic(
            api_key=api_key,
            base_url=settings.model_base_url,
            timeout=settings.model_timeout_s,
            http_client=ModelHttpClient(settings.model_timeout_s),
            # Celery owns retries (a waiting task holds no worker slot); two layers would multiply.
            max_retries=0,
        )
        # Streamed calls: httpx's timeouts (each read among them) bound the gap between two
        # chunks, the client's deadline the whole call.
        self._stream_s = settings.stream_timeout_s
        self._idle_s = settings.model_idle_timeout_s
        self._streaming = anthropic.Anthropic(
            api_key=api_key,
            base_url=settings.model_base_url,
            timeout=httpx2.Timeout(settings.model_idle_timeout_s),
            http_client=ModelHttpClient(settings.stream_timeout_s),
            max_retries=0,
        )

    def plan_params(
        self,
        request: JobRequest,
        *,
        model: str,
        max_tokens: int,
        feedback: str | None = None,
        cache: CacheUse | None = None,
    ) -> dict[str, Any]:
        """The planning call's `messages.create` arguments. With `cache` the shared block is
        marked and the plan's schema goes in the prompt: the structured-output format is part
        of the cached prefix, and the workers' calls have none."""
        draft_type = plan_format(request.options.tiers)
        if cache is not None:
            schema = _plan_schema(draft_type)["schema"]
            prompt = prompts.for_planning(request, feedback, cache.ttl, schema)
            return {"model": model, "max_tokens": max_tokens, "messages": prompt.messages,
                    **_system(prompt)}  # fmt: skip
        prompt = prompts.for_planning(request, feedback)
        return {
            "model": model,
            "max_tokens": max_tokens,
            "messages": prompt.messages,
            "output_config": {"format": _plan_schema(draft_type)},
            **_system(prompt),
        }

    def plan_reply(
        self,
        request: JobRequest,
        message: Message | dict[str, Any],
        *,
        max_tokens: int,
        batch: bool = False,
    ) -> PlanReply:
        """The plan in a planning call's reply (a Message or its JSON, as a batch returns it).
        Raises PlanError (which carries the call's usage: a plan that cannot be used was
        still paid for)."""
        message = _message(message)
        usage = usage_from_sdk(message.usage, self._prices.get(message.model), batch=batch)
        if message.stop_reason == "max_tokens":
            raise PlanError(
                f"the model's plan was cut off at max_tokens ({max_tokens}); raise plan_max_tokens",
                usage=usage,
                repairable=False,
            )
        text = _json_text("".join(b.text for b in message.content if b.type == "text"))
        if not text.strip():
            raise PlanError("the model returned no plan", usage=usage)
        try:
            draft = plan_format(request.options.tiers).model_validate_json(text)
        except pydantic.ValidationError as exc:
            raise PlanError(
                f"the model's plan did not match the plan schema ({brief(exc)})", usage=usage
            ) from exc
        return PlanReply(draft=draft, usage=usage)

    def plan(
        self,
        request: JobRequest,
        *,
        model: str,
        max_tokens: int,
        feedback: str | None = None,
        cache: CacheUse | None = None,
    ) -> PlanReply:
        """Ask for a plan. Raises ModelCallError or PlanError."""
        params = self.plan_params(
            request, model=model, max_tokens=max_tokens, feedback=feedback, cache=cache
        )
        try:
            # `create` and our own parse rather than the SDK's `messages.parse`, which raises on
            # the JSON before the stop reason and the usage can be read.
            message = self._client.messages.create(**params)
        except anthropic.AnthropicError as exc:
            raise classify_model_error(exc, timeout_s=self._timeout_s) from exc
        return self.plan_reply(request, message, max_tokens=max_tokens)

    def subtask_params(
        self,
        assignment: SubtaskAssignment,
        repair: prompts.Repair | None = None,
        cache_ttl: CacheTtl | None = None,
    ) -> dict[str, Any]:
        """A worker call's `messages.create` arguments (JSON through structured output when
        the job has an output schema)."""
        prompt = prompts.for_worker(assignment, repair, cache_ttl)
        return {
            "model": assignment.model,
            "max_tokens": assignment.max_tokens,
            "messages": prompt.messages,
            **_system(prompt),
            **_json_output(assignment.output_schema),
        }

    def subtask_reply(
        self,
        assignment: SubtaskAssignment,
        message: Message | dict[str, Any],
        *,
        batch: bool = False,
    ) -> WorkerReply:
        """A worker call's reply. Raises ModelCallError (retryable) for an empty answer."""
        message = _message(message)
        text = "".join(block.text for block in message.content if block.type == "text")
        if not text.strip():
            raise ModelCallError("the model returned an empty answer", retryable=True)
        return WorkerReply(
            output=text,
            usage=usage_from_sdk(message.usage, self._prices.get(assignment.model), batch=batch),
            truncated=message.stop_reason == "max_tokens",
        )

    def run_subtask(
        self,
        assignment: SubtaskAssignment,
        repair: prompts.Repair | None = None,
        on_text: TextSink | None = None,
        cache_ttl: CacheTtl | None = None,
    ) -> WorkerReply:
        """One streamed worker call; `on_text` sees the text as it arrives. Raises
        ModelCallError."""
        message = self._stream(on_text, **self.subtask_params(assignment, repair, cache_ttl))
        return self.subtask_reply(assignment, message)

    def synthesize(
        self,
        request: JobRequest,
        outputs: list[dict[str, str]],
        *,
        model: str,
        max_tokens: int,
        repair: prompts.Repair | None = None,
        on_text: TextSink | None = None,
        cache_ttl: CacheTtl | None = None,
    ) -> WorkerReply:
        """Combine worker outputs into one answer, streamed like a worker call. Raises
        ModelCallError."""
        prompt = prompts.for_synthesis(request, outputs, repair, cache_ttl)
        message = self._stream(
            on_text,
            model=model,
            max_tokens=max_tokens,
            messages=prompt.messages,
            **_system(prompt),
            **_json_output(request.options.synthesis_schema),
        )
        text = "".join(block.text for block in message.content if block.type == "text")
        return WorkerReply(
            output=text,
            usage=usage_from_sdk(message.usage, self._prices.get(model)),
            truncated=message.stop_reason == "max_tokens",
        )

    def _stream(self, on_text: TextSink | None, **create: Any) -> Message:
        return stream_message(
            self._streaming, on_text, total_s=self._stream_s, idle_s=self._idle_s, **create
        )

    # The Message Batches API (chorus.llm.batches). Each raises ModelCallError.
    def create_batch(self, requests: list[dict[str, Any]]) -> str:
        return batches.create(self._client, self._timeout_s, requests)

    def batch_status(self, batch_id: str) -> BatchStatus:
        return batches.retrieve(self._client, self._timeout_s, batch_id)

    def batch_results(self, batch_id: str) -> list[BatchOutcome]:
        return batches.results(self._client, self._timeout_s, batch_id)

    def cancel_batch(self, batch_id: str) -> None:
        batches.cancel(self._client, self._timeout_s, batch_id)

    def close(self) -> None:
        self._client.close()
        self._streaming.close()


def _message(message: Message | dict[str, Any]) -> Message:
    return message if isinstance(message, Message) else Message.model_validate(message)


def _system(prompt: prompts.Prompt) -> dict[str, Any]:
    """The `system` argument when the prompt has one (a job's own templates may not)."""
    return {"system": prompt.system} if prompt.system is not None else {}


_FENCE = re.compile(r"\s*```(?:json)?\s*(.*?)\s*```\s*", re.DOTALL)


def _json_text(text: str) -> str:
    """A plan asked for in the prompt may come in a Markdown code fence: its inside."""
    fenced = _FENCE.fullmatch(text)
    return fenced.group(1) if fenced else text


@cache
def _plan_schema(draft_type: type[PlanDraft]) -> JSONOutputFormatParam:
    """What the SDK's `messages.parse(output_format=...)` would send for this plan type."""
    return {"type": "json_schema", "schema": transform_schema(draft_type)}


def _json_output(schema: dict[str, Any] | None) -> dict[str, Any]:
    """Structured output for a job's schema, in the form the API takes (the SDK's transform:
    strict objects, bounds moved into descriptions; Chorus validates the whole schema after)."""
    if schema is None:
        return {}
    return {
        "output_config": {"format": {"type": "json_schema", "schema": transform_schema(schema)}}
    }
