"""What an event adds to its minute's fleet bucket: which fields, pure.

The fleet's counters (`chorus.core.metrics`) only ever grow, so they say nothing about the last
hour. The same events also add to a hash per minute (`names.fleet_minute_key`), written in the
same transaction as the counters so a redelivery counts nothing twice there either; the
console's Fleet page sums the last hour of them. Buckets expire on their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from chorus.core.metrics import NO_TENANT

# An hour is shown; the second hour lets a page read at minute 59 still find minute 0.
BUCKET_TTL_S = 2 * 3600
WINDOW_MINUTES = 60

JOBS_FINISHED = "jobs_finished"
SUBTASKS_FINISHED = "subtasks_finished"
COST_PREFIX = "cost:"


def epoch_minute(at: datetime | float) -> int:
    """The minute since the epoch `at` falls in (a timestamp or an aware datetime)."""
    seconds = at.timestamp() if isinstance(at, datetime) else at
    return int(seconds // 60)


def jobs_finished_field(tenant: str | None) -> str:
    return f"{JOBS_FINISHED}:{tenant or NO_TENANT}"


def minute_increments(increments: Mapping[str, float], tenant: str | None) -> dict[str, float]:
    """The minute bucket's share of one event's fleet counter increments (as computed by
    `metrics.result_increments`, `finalised_increments` or `token_increments`): its dollars by
    model and tenant as they are, one subtask finished for a result, and one job finished
    (fleet-wide, and for `tenant`) for a job's final transition."""
    minute = {f: n for f, n in increments.items() if f.startswith(COST_PREFIX) and n}
    if any(f.startswith(f"{SUBTASKS_FINISHED}:") for f in increments):
        minute[SUBTASKS_FINISHED] = 1
    if any(f.startswith(f"{JOBS_FINISHED}:") for f in increments):
        minute[JOBS_FINISHED] = 1
        minute[jobs_finished_field(tenant)] = 1
    return minute


def cost_by_model(bucket: Mapping[str, str], tenant: str) -> dict[str, float]:
    """Dollars by model in one bucket, for `tenant`'s jobs only. A field is
    `cost:<model>:<tenant>` and tenant names have no ':', so it splits on the last one."""
    spent: dict[str, float] = {}
    for field, amount in bucket.items():
        if not field.startswith(COST_PREFIX):
            continue
        model, _, who = field[len(COST_PREFIX) :].rpartition(":")
        if who == tenant:
            spent[model] = spent.get(model, 0.0) + float(amount)
    return spent
