"""The in-process baselines: the same model calls with no queue at all. The sequential loop
is what a script does; the asyncio one is the best a single process can do."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

import anthropic

from bench import workload
from bench.systems import JobTiming
from chorus.contract.models import Subtask
from chorus.contract.plans import PlanDraft
from chorus.core import prompts
from chorus.llm.client import ModelClient
from chorus.settings import Settings


@dataclass(frozen=True)
class SequentialTiming:
    plan_s: float
    worker_s: float  # median of the job's worker calls
    total_s: float

    @property
    def critical_path_s(self) -> float:
        """The least any system can take: the plan, then one worker call."""
        return self.plan_s + self.worker_s


class SequentialLoop:
    name = "sequential"

    def __init__(self, base_url: str) -> None:
        self._client = ModelClient(Settings(simulator_url=base_url, anthropic_api_key=None))

    def timed(self, subtasks: int) -> SequentialTiming:
        start = time.perf_counter()
        reply = self._client.plan(
            workload.request(subtasks),
            model=workload.ORCHESTRATOR_MODEL,
            max_tokens=workload.PLAN_MAX_TOKENS,
        )
        plan_s = time.perf_counter() - start
        worker_times = []
        for index, item in enumerate(reply.draft.subtasks[:subtasks]):
            call_start = time.perf_counter()
            self._client.run_subtask(workload.assignment("seq", index, item.type, item.description))
            worker_times.append(time.perf_counter() - call_start)
        total = time.perf_counter() - start
        return SequentialTiming(plan_s, statistics.median(worker_times), total)

    def one(self, subtasks: int) -> JobTiming:
        total = self.timed(subtasks).total_s
        return JobTiming(total, total)

    def batch(self, jobs: int, subtasks: int) -> float:
        start = time.perf_counter()
        for _ in range(jobs):
            self.timed(subtasks)
        return time.perf_counter() - start

    def retries(self) -> int:
        return 0  # no retries: a failed call fails the run

    def close(self) -> None:
        self._client.close()


class AsyncioGather:
    """Plan, then asyncio.gather over the worker calls, with AsyncAnthropic; one event loop
    for the object's life so connections are reused as a long-running service would."""

    name = "asyncio"

    def __init__(self, base_url: str) -> None:
        self._runner = asyncio.Runner()
        self._client = self._runner.run(self._connect(base_url))

    @staticmethod
    async def _connect(base_url: str) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(api_key="bench", base_url=base_url, max_retries=0)

    async def _worker(self, index: int, kind: str, description: str) -> str:
        message = await self._client.messages.create(
            model=workload.WORKER_MODEL,
            max_tokens=workload.WORKER_MAX_TOKENS,
            system=prompts.worker_system(workload.TASK, workload.CONTEXT),
            messages=prompts.worker_messages(
                Subtask(index=index, type=kind, description=description)
            ),
        )
        return "".join(block.text for block in message.content if block.type == "text")

    async def _job(self, subtasks: int) -> int:
        plan = await self._client.messages.parse(
            model=workload.ORCHESTRATOR_MODEL,
            max_tokens=workload.PLAN_MAX_TOKENS,
            system=prompts.planning_system(workload.request(subtasks)),
            messages=prompts.planning_messages(workload.request(subtasks)),
            output_format=PlanDraft,
        )
        draft = plan.parsed_output
        assert draft is not None
        outputs = await asyncio.gather(
            *(
                self._worker(index, item.type, item.description)
                for index, item in enumerate(draft.subtasks[:subtasks])
            )
        )
        return len(outputs)

    async def _jobs(self, jobs: int, subtasks: int) -> list[int]:
        return list(await asyncio.gather(*(self._job(subtasks) for _ in range(jobs))))

    def one(self, subtasks: int) -> JobTiming:
        start = time.perf_counter()
        self._runner.run(self._job(subtasks))
        total = time.perf_counter() - start
        return JobTiming(total, total)

    def batch(self, jobs: int, subtasks: int) -> float:
        start = time.perf_counter()
        self._runner.run(self._jobs(jobs, subtasks))
        return time.perf_counter() - start

    def retries(self) -> int:
        return 0  # no retries: a failed call fails the run

    def close(self) -> None:
        self._runner.run(self._client.close())
        self._runner.close()
