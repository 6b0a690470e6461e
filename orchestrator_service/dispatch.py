"""Fan-out: one `worker.run_subtask` per planned subtask, joined by `orchestrator.gather_results`.

The chord header is one flat group of plain tasks (the shape the Redis backend's native chord
handles); a plan with no subtasks never reaches here, because a chord over an empty group
would never call back.

With the Redis backend a redelivered subtask can count twice in the chord and fire the callback
early; the gather step then looks again until the results hash (written once per index) is
full, so an early callback delays a job, never cuts it short.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from celery import Celery, chord, group

from chorus.contract.models import JobRecord, SubtaskAssignment
from chorus.core import caching, records, rerun
from chorus.runtime.signatures import gather_signature, subtask_signature
from chorus.settings import Settings


def assignments(
    settings: Settings,
    record: JobRecord,
    only: Collection[int] | None = None,
    *,
    now: datetime | None = None,
) -> list[SubtaskAssignment]:
    """What each worker gets: everything it needs, nothing it must look up (pure but for the
    clock when `now` is not given); `only` picks some subtasks (a retry's)."""
    assert record.plan is not None
    now = now or records.utc_now()
    request = record.request
    max_tokens = request.options.worker_max_tokens or settings.worker_max_tokens
    budget = records.budget_of(record)
    tiers = request.options.tiers or {}
    # The planner's tier for each subtask, else the job's one worker model.
    models = {
        s.index: tiers.get(s.tier or "", record.worker_model)
        for s in record.plan.subtasks
        if only is None or s.index in only
    }
    cache = caching.fanout_cache(
        record,
        models,
        price_of=settings.prices.get,
        overrides=settings.cache_min_tokens,
        min_saving_usd=settings.cache_min_saving_usd,
        wait_s=settings.cache_warm_wait_s,
        now=now,
    )
    return [
        SubtaskAssignment(
            job_id=record.job_id,
            task=request.task,
            context=request.context,
            subtask=subtask,
            model=models[subtask.index],
            max_tokens=max_tokens,
            budget=budget,
            worker_template=request.options.prompts.worker if request.options.prompts else None,
            max_subtasks=request.options.max_subtasks,
            output_schema=request.options.output_schema,
            tenant=request.tenant,
            run=rerun.current_run(record),
            cache=cache[subtask.index],
            mode=request.options.mode,
            dispatched_at=now,
        )
        for subtask in record.plan.subtasks
        if subtask.index in models
    ]


def dispatch_subtasks(
    app: Celery, settings: Settings, record: JobRecord, only: Collection[int] | None = None
) -> str:
    """Send the chord (over the subtasks in `only`, when given); returns its group id."""
    header = group(subtask_signature(app, a) for a in assignments(settings, record, only))
    if not header.tasks:
        raise ValueError("refusing to dispatch a chord with no subtasks")
    result = chord(header, gather_signature(app, record.job_id)).apply_async()
    return str(result.parent.id) if result.parent is not None else ""
