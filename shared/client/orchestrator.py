"""The well-known notebook's API on a Chorus fleet:

    chorus.Orchestrator(orchestrator_prompt, worker_prompt, model=...).process(task, context)

returns the job's `JobRecord` (analysis, each approach's type, description and output one
attribute away). Where it runs: the HTTP API at `CHORUS_API_URL` (with `CHORUS_API_TOKEN`),
else the broker at `REDIS_URL`, else an embedded local stack (`chorus.client.embedded`).
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from chorus.contract.models import JobRecord

if TYPE_CHECKING:
    from chorus.client.broker import BrokerSubmitter


class Orchestrator:
    def __init__(
        self,
        orchestrator_prompt: str | None = None,
        worker_prompt: str | None = None,
        *,
        model: str | None = None,
        synthesis_prompt: str | None = None,
        timeout_s: float = 600.0,
        **options: Any,
    ) -> None:
        """`model` plans and works (the notebook's one model); any other job option
        (`max_subtasks`, `profile`, `output_schema`, `worker_model`, budgets, ...) goes as a
        keyword. Templates are checked when a job is submitted."""
        prompts = {
            "orchestrator": orchestrator_prompt,
            "worker": worker_prompt,
            "synthesis": synthesis_prompt,
        }
        self.options: dict[str, Any] = dict(options)
        if any(prompts.values()):
            self.options["prompts"] = {k: v for k, v in prompts.items() if v is not None}
        if model is not None:
            self.options.setdefault("orchestrator_model", model)
            self.options.setdefault("worker_model", model)
        self.timeout_s = timeout_s

    def process(self, task: str, context: dict[str, Any] | None = None) -> JobRecord:
        """Run one job to its end and return its record (ChorusError on bad input)."""
        api_url = os.environ.get("CHORUS_API_URL")
        if api_url:
            from chorus.client.http import Client

            with Client(api_url) as client:
                job_id = client.submit(task, context=context, options=self.options)
                return client.wait(job_id, timeout_s=self.timeout_s)
        submitter = _submitter()
        record = submitter.submit({"task": task, "context": context or {}, "options": self.options})
        return submitter.wait(record.job_id, timeout_s=self.timeout_s)

    async def process_async(self, task: str, context: dict[str, Any] | None = None) -> JobRecord:
        api_url = os.environ.get("CHORUS_API_URL")
        if api_url:
            from chorus.client.http import AsyncClient

            async with AsyncClient(api_url) as client:
                job_id = await client.submit(task, context=context, options=self.options)
                return await client.wait(job_id, timeout_s=self.timeout_s)
        return await asyncio.to_thread(self.process, task, context)


_submitters: dict[str, BrokerSubmitter] = {}


def _submitter() -> BrokerSubmitter:
    """One broker submitter per target for the life of the process."""
    from chorus.client.broker import BrokerSubmitter

    key = os.environ.get("REDIS_URL") or ""
    if key not in _submitters:
        if key:
            _submitters[key] = BrokerSubmitter()
        else:
            from chorus.client.embedded import embedded_settings

            _submitters[key] = BrokerSubmitter(embedded_settings())
    return _submitters[key]
