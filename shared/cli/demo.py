"""`chorus demo`: the sample job end to end on a stack of real local processes."""

from __future__ import annotations

import os
from pathlib import Path

from rich.console import Console

from chorus.cli import render
from chorus.cli.app import load_settings
from chorus.contract.models import JobStatus
from chorus.core.submission import build_request
from chorus.devstack.stack import LocalStack, StackError
from chorus.runtime.app import create_celery_app
from chorus.runtime.enqueue import enqueue_job
from chorus.settings import Settings
from chorus.store.connection import redis_client
from chorus.store.events import JobEvents
from chorus.store.jobs import JobStore

SAMPLE_JOB = {
    "task": "Write a product description for a new eco-friendly water bottle.",
    "context": {
        "target_audience": "environmentally conscious millennials",
        "key_features": ["plastic-free", "insulated", "lifetime warranty"],
    },
    "options": {"max_subtasks": 3},
}


def run_demo(console: Console, *, latency_ms: float, output: str) -> int:
    stack = LocalStack(
        redis_url=os.environ.get("REDIS_URL", "").strip() or None,
        use_simulator=load_settings().uses_simulator,  # a blank key is no key
        simulator_latency_ms=latency_ms,
        workers=1,
        worker_concurrency=16,
    )
    console.rule("Chorus demo")
    try:
        stack.start(on_step=lambda line: console.print(f"  • {line}", highlight=False))
    except StackError as exc:
        console.print(f"[red]could not start the local stack:[/red] {exc}")
        return 1
    try:
        settings = Settings(
            redis_url=stack.redis_url,
            simulator_url=stack.simulator_url or Settings().simulator_url,
        )
        request = build_request(SAMPLE_JOB)
        console.print(f"\nTask: {request.task}\nContext: {request.context}\n", highlight=False)
        store = JobStore.from_settings(settings)
        job_id = enqueue_job(create_celery_app(settings), request)
        console.print(f"Submitted job {job_id}; {settings.describe_model_endpoint()}")
        events = JobEvents(redis_client(settings), ttl_s=settings.job_ttl_s)
        record = render.follow(store, events, job_id, timeout_s=300, console=console)
        console.print()
        render.show_record(console, record)
        path = Path(output)
        path.write_text(record.model_dump_json(indent=2) + "\n")
        console.print(f"JobRecord saved to {path.resolve()}")
        if record.simulated:
            console.print(
                "[magenta]These outputs come from the offline simulator.[/magenta] "
                "Set ANTHROPIC_API_KEY to run the same job on Claude."
            )
        return 0 if record.status is JobStatus.SUCCEEDED else 1
    finally:
        console.print("Stopping the processes the demo started…")
        stack.stop()
