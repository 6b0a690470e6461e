"""Benchmark: one job's time inside Chorus against the same model calls made in sequence.

Simulator at 200 ms per call, 5 subtasks. Prints medians over several runs, taken in the same
run on the same machine, and the target from the core issue:

    job time (created_at → finished_at) ≤ one planning call + one worker call + 150 ms

Usage: python bench/job_latency.py [--runs 7] [--latency-ms 200] [--subtasks 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from shared.celery_app import create_celery_app
from shared.job_store import JobStore
from shared.local_stack import LocalStack
from shared.model_client import ModelClient
from shared.models import JobRequest, JobStatus, Subtask, SubtaskAssignment
from shared.settings import Settings
from shared.submission import build_request, enqueue_job, wait_for_job

TASK = "Write a product description for a new eco-friendly water bottle."
CONTEXT = {"target_audience": "environmentally conscious millennials"}


def timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def sequential_baseline(settings: Settings, subtasks: int) -> tuple[float, float, float]:
    """(plan call, one worker call, plan + all workers one after another), in seconds."""
    client = ModelClient(settings)
    request = JobRequest(task=TASK, context=CONTEXT, options={"max_subtasks": subtasks})
    start = time.perf_counter()
    client.plan(request, model=settings.orchestrator_model, max_tokens=settings.plan_max_tokens)
    plan_s = time.perf_counter() - start
    worker_times = []
    for index in range(subtasks):
        assignment = SubtaskAssignment(
            job_id="bench",
            task=TASK,
            context=CONTEXT,
            subtask=Subtask(index=index, type=f"approach-{index}", description="Write it."),
            model=settings.worker_model,
            max_tokens=settings.worker_max_tokens,
        )
        worker_times.append(timed(lambda a=assignment: client.run_subtask(a)))
    client.close()
    total = time.perf_counter() - start
    return plan_s, statistics.median(worker_times), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--subtasks", type=int, default=5)
    args = parser.parse_args()

    stack = LocalStack(
        simulator_latency_ms=args.latency_ms,
        simulator_plan_size=args.subtasks,
        worker_concurrency=64,
    )
    with stack:
        settings = Settings(redis_url=stack.redis_url, simulator_url=stack.simulator_url)
        app = create_celery_app(settings)
        store = JobStore.from_settings(settings)
        payload = {"task": TASK, "context": CONTEXT, "options": {"max_subtasks": args.subtasks}}
        wait_for_job(store, enqueue_job(app, build_request(payload)), timeout_s=60)  # warm-up

        baselines = [sequential_baseline(settings, args.subtasks) for _ in range(args.runs)]
        in_system, end_to_end, sizes = [], [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            job_id = enqueue_job(app, build_request(payload))
            record = wait_for_job(store, job_id, timeout_s=60, poll_s=0.01)
            end_to_end.append(time.perf_counter() - start)
            assert record.status is JobStatus.SUCCEEDED, record.error
            assert record.finished_at is not None
            in_system.append((record.finished_at - record.created_at).total_seconds())
            sizes.append(record.subtasks_total)
        store.close()

    plan_s = statistics.median(b[0] for b in baselines)
    worker_s = statistics.median(b[1] for b in baselines)
    sequential_s = statistics.median(b[2] for b in baselines)
    job_s = statistics.median(in_system)
    critical_s = plan_s + worker_s
    budget_s = critical_s + 0.150
    figures = {
        "latency_ms_per_call": args.latency_ms,
        "subtasks_per_job": sorted(set(sizes)),
        "runs": args.runs,
        "median_plan_call_s": round(plan_s, 4),
        "median_worker_call_s": round(worker_s, 4),
        "median_sequential_six_calls_s": round(sequential_s, 4),
        "median_job_in_system_s": round(job_s, 4),
        "median_job_submit_to_seen_final_s": round(statistics.median(end_to_end), 4),
        "overhead_over_critical_path_ms": round((job_s - critical_s) * 1000, 1),
        "ratio_job_to_critical_path": round(job_s / critical_s, 3),
        "speedup_vs_sequential": round(sequential_s / job_s, 2),
        "target_job_le_critical_plus_150ms": job_s <= budget_s,
    }
    print(
        f"Simulator at {args.latency_ms:.0f} ms/call, {figures['subtasks_per_job']} subtasks, "
        f"{args.runs} runs (medians):"
    )
    print(f"  plan call                      {plan_s * 1000:8.1f} ms")
    print(f"  one worker call                {worker_s * 1000:8.1f} ms")
    print(f"  same calls one after another   {sequential_s * 1000:8.1f} ms  (one process)")
    print(f"  Chorus job, created→finished   {job_s * 1000:8.1f} ms")
    print(
        f"  overhead over critical path    {figures['overhead_over_critical_path_ms']:8.1f} ms"
        f"  (target ≤ 150 ms: {'PASS' if figures['target_job_le_critical_plus_150ms'] else 'FAIL'})"
    )
    print(f"  speed-up vs sequential         {figures['speedup_vs_sequential']:8.2f}x")
    out = Path(__file__).parent / "results" / "job_latency.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"  figures written to {out}")


if __name__ == "__main__":
    main()
