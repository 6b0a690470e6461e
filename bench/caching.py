"""What caching the job's shared block saves, and what warming it costs in time.

One stack on a simulator of its own whose calls have a real shape: a base latency (the time to
first token) and generation time on top, streamed; with a prefill cost per uncached input
token when the simulator has one. Every job has 5 subtasks and a 20,000-token context; the
simulator's cache is emptied before each job, so every job starts cold as a new job would.

- input cost: what the input side of the planning call and the worker calls cost (input,
  cache writes at 1.25x or 2x, reads at 0.1x: chorus.core.pricing with the output zeroed),
  `options.cache` "auto" against "off", the planner on the workers' model and on another;
- latency: the two-model job's time on the record's own clock, auto against off taken in
  turns, beside the worker calls' time to first token from the simulator's request log (the
  workers' lead call is what the others wait on).
"""

from __future__ import annotations

import importlib.util
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.infra import Infra
from chorus.contract.models import JobRecord, JobStatus, Usage
from chorus.core import prompts
from chorus.core.pricing import DEFAULT_PRICES, cost_usd
from chorus.core.submission import build_request
from chorus.devstack.simulator.config import SimulatorConfig
from chorus.devstack.simulator.generation import estimate_tokens
from chorus.runtime.app import create_celery_app
from chorus.runtime.enqueue import enqueue_job
from chorus.settings import Settings
from chorus.store.jobs import JobStore, wait_for_job

HAIKU, HAIKU_4_5, SONNET = "claude-haiku-5-5", "claude-haiku-4-5", "claude-sonnet-5-5"
SETUPS = {
    "one_model": {"orchestrator_model": HAIKU, "worker_model": HAIKU},
    # Two models at one price, so the ratio measures the cache, not the price gap: the
    # planner's block is read uncached whatever Chorus does (nothing on its model reads it).
    "two_models": {"orchestrator_model": HAIKU_4_5, "worker_model": HAIKU},
    # Chorus's default pairing, reported beside: a planner at 3x the workers' price.
    "default_models": {"orchestrator_model": SONNET, "worker_model": HAIKU},
}
DEFAULT_PAIR_RUNS = 2
SHARED_TOKENS = 20_000
SUBTASKS = 5
TASK = "Write product copy for the insulated bottle in the catalogue."
BASE_MS = 300.0  # the time to first token of a call with nothing to prefill
MS_PER_OUTPUT_TOKEN = 10.0  # a worker reply of about 70 tokens takes about a second
MS_PER_INPUT_TOKEN = 0.05  # prefill of uncached input, if the simulator models it
SIMULATOR = "caching"
CACHE_DB = 4
JOB_TIMEOUT_S = 120.0
POLL_S = 0.01


class BenchJobError(RuntimeError):
    pass


class Jobs:
    """Submits a job as users do (enqueue_job) and waits for its record."""

    def __init__(self, redis_url: str) -> None:
        settings = Settings(redis_url=redis_url, anthropic_api_key=None)
        self._app = create_celery_app(settings)
        self._store = JobStore.from_settings(settings)

    def submit(self, payload: dict[str, Any]) -> str:
        return enqueue_job(self._app, build_request(payload))

    def wait(self, job_id: str, timeout_s: float = JOB_TIMEOUT_S) -> JobRecord:
        record = wait_for_job(self._store, job_id, timeout_s=timeout_s, poll_s=POLL_S)
        if record.status is not JobStatus.SUCCEEDED:
            raise BenchJobError(f"job {job_id}: {record.status.value} ({record.error})")
        return record

    def close(self) -> None:
        self._store.close()
        self._app.close()


def context(tokens: int) -> dict[str, Any]:
    """A catalogue sized so the shared block (instructions, task, context) holds about
    `tokens` tokens as the simulator counts them."""

    def sized(items: int) -> dict[str, Any]:
        return {"catalogue": " ".join(f"item{n % 97} blue steel bottle" for n in range(items))}

    def count(items: int) -> int:
        return estimate_tokens(prompts.shared_text(TASK, sized(items)))

    base, per_item = count(0), (count(1000) - count(0)) / 1000
    return sized(max(0, round((tokens - base) / per_item)))


def input_usd(record: JobRecord) -> float:
    """The job's input side: planning and every worker call, output tokens zeroed."""
    calls: list[tuple[str, Usage]] = [(record.orchestrator_model, record.planning_usage)]
    calls += [(r.model or record.worker_model, r.usage) for r in record.results]
    return sum(
        cost_usd(usage.model_copy(update={"output_tokens": 0}), DEFAULT_PRICES.get(model))
        for model, usage in calls
    )


@dataclass(frozen=True)
class Sample:
    in_system_s: float
    input_usd: float
    cost_usd: float
    saving_usd: float
    ttft_s: list[float]  # the job's streamed worker calls, first token - arrival
    call_s: list[float]  # the same calls, arrival - last event
    writes: int  # calls that wrote (read) the cache, on the simulator's count
    reads: int


def one_job(jobs: Jobs, sim: httpx.Client, payload: dict[str, Any]) -> Sample:
    sim.post("/_simulator/reset").raise_for_status()  # a cold cache, as for a new context
    record = jobs.wait(jobs.submit(payload))
    if len(record.results) != SUBTASKS:
        raise BenchJobError(f"job {record.job_id}: {len(record.results)} subtasks")
    calls = [c for c in sim.get("/_simulator/requests").json() if c.get("status") == 200]
    usages = [c["usage"] for c in calls if "usage" in c]
    workers = [c for c in calls if c["model"] == record.worker_model and c.get("stream")]
    assert record.finished_at is not None
    return Sample(
        in_system_s=(record.finished_at - record.created_at).total_seconds(),
        input_usd=input_usd(record),
        cost_usd=record.usage.cost_usd,
        saving_usd=record.usage.cache_saving_usd,
        ttft_s=[
            float(c["first_token_at"]) - float(c["started_at"])
            for c in workers
            if c.get("first_token_at")
        ],
        call_s=[float(c["finished_at"]) - float(c["started_at"]) for c in workers],
        writes=sum(1 for u in usages if u["cache_creation_input_tokens"]),
        reads=sum(1 for u in usages if u["cache_read_input_tokens"]),
    )


def prefill_flags() -> list[str]:
    """The prefill flag, when this simulator models prefill time (helper work in flight)."""
    if "ms_per_input_token" not in SimulatorConfig.model_fields:
        return []
    spec = importlib.util.find_spec("chorus.devstack.simulator.__main__")
    cli = Path(spec.origin).read_text() if spec and spec.origin else ""
    return ["--ms-per-input-token", str(MS_PER_INPUT_TOKEN)] if "--ms-per-input" in cli else []


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _in_turns(
    jobs: Jobs, sim: httpx.Client, setup: dict[str, str], runs: int
) -> dict[str, list[Sample]]:
    found: dict[str, list[Sample]] = {"auto": [], "off": []}
    order = ["auto", "off"]
    for run in range(runs):
        for mode in order if run % 2 == 0 else order[::-1]:
            options = {**setup, "max_subtasks": SUBTASKS, "cache": mode}
            payload = {"task": TASK, "context": CONTEXT, "options": options}
            found[mode].append(one_job(jobs, sim, payload))
    return found


def _cost(samples: dict[str, list[Sample]], setup: dict[str, str]) -> dict[str, Any]:
    auto = _median([s.input_usd for s in samples["auto"]])
    off = _median([s.input_usd for s in samples["off"]])
    return {
        "planner": setup["orchestrator_model"],
        "workers": setup["worker_model"],
        "input_usd": {"auto": round(auto, 6), "off": round(off, 6)},
        "ratio": round(auto / off, 4),
        "job_cost_usd": {m: round(_median([s.cost_usd for s in v]), 6) for m, v in samples.items()},
        "record_saving_usd": round(_median([s.saving_usd for s in samples["auto"]]), 6),
        "cache_writes": samples["auto"][0].writes,
        "cache_reads": samples["auto"][0].reads,
    }


CONTEXT = context(SHARED_TOKENS)


def run(infra: Infra, *, runs: int) -> dict[str, Any]:
    prefill = prefill_flags()
    flags = ["--latency-ms", str(BASE_MS), "--ms-per-output-token", str(MS_PER_OUTPUT_TOKEN)]
    url = infra.own_simulator(SIMULATOR, flags + prefill)
    stack = infra.chorus(SIMULATOR, CACHE_DB)
    jobs, sim = Jobs(infra.redis_url(CACHE_DB)), httpx.Client(base_url=url, timeout=10)
    try:
        warm = {"task": TASK, "context": CONTEXT, "options": {"max_subtasks": SUBTASKS}}
        one_job(jobs, sim, warm)  # warm-up: imports, connections, lazily built clients
        one = _in_turns(jobs, sim, SETUPS["one_model"], 2)  # the token counts are exact
        two = _in_turns(jobs, sim, SETUPS["two_models"], runs)
        default = _in_turns(jobs, sim, SETUPS["default_models"], DEFAULT_PAIR_RUNS)
    finally:
        sim.close()
        jobs.close()
        infra.stop_chorus(stack)
    return {
        "caching": {
            "shared_tokens": estimate_tokens(prompts.shared_text(TASK, CONTEXT)),
            "subtasks": SUBTASKS,
            "simulator": {
                "base_ms": BASE_MS,
                "ms_per_output_token": MS_PER_OUTPUT_TOKEN,
                "ms_per_input_token": MS_PER_INPUT_TOKEN if prefill else None,
            },
            "cost": {
                "one_model": _cost(one, SETUPS["one_model"]),
                "two_models": _cost(two, SETUPS["two_models"]),
                "default_models": _cost(default, SETUPS["default_models"]),
            },
            "latency": _latency(two, runs),
        }
    }


def _latency(samples: dict[str, list[Sample]], runs: int) -> dict[str, Any]:
    auto, off = samples["auto"], samples["off"]
    auto_s, off_s = _median([s.in_system_s for s in auto]), _median([s.in_system_s for s in off])

    def ms(values: list[float]) -> float:
        return round(_median(values) * 1000, 1)

    return {
        "runs": runs,
        "job_s": {"auto": round(auto_s, 4), "off": round(off_s, 4)},
        "added_ms": round((auto_s - off_s) * 1000, 1),
        # Uncached calls: what the workers behind the lead call wait for.
        "ttft_ms": ms([t for s in off for t in s.ttft_s]),
        "ttft_auto_ms": ms([t for s in auto for t in s.ttft_s]),
        "worker_call_ms": ms([t for s in off for t in s.call_s]),
        "samples_s": {m: [round(s.in_system_s, 4) for s in v] for m, v in samples.items()},
    }
