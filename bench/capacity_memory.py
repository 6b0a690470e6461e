"""The Redis memory finished jobs keep (bench/capacity.py): by key family and by how long it
is kept (the workers' text 30 s, Celery's results a day, the rest the job TTL), the job index's
share, and the broker's messages at the batch's peak."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, cast

import redis

from bench.resources import RedisFootprint
from chorus.contract import names

MEMORY_SUBTASKS = 5


class SubmitAndWait(Protocol):
    def __call__(
        self, jobs: int, subtasks: int, probe: Callable[[redis.Redis], None] | None = None
    ) -> tuple[list[str], float, int]: ...


class BrokerPeak:
    """The most messages waiting in the subtasks queue and delivered but unacknowledged
    (kombu keeps a copy of each in the `unacked` hash until its late ack), with their bytes."""

    def __init__(self) -> None:
        self.found = {"queued": (0, 0), "unacked": (0, 0)}

    def __call__(self, r: redis.Redis) -> None:
        keys = {"queued": names.SUBTASKS_QUEUE, "unacked": "unacked"}
        with r.pipeline(transaction=False) as pipe:
            pipe.llen(keys["queued"])
            pipe.memory_usage(keys["queued"], samples=0)
            pipe.hlen(keys["unacked"])
            pipe.memory_usage(keys["unacked"], samples=0)
            got = [int(v or 0) for v in pipe.execute()]
        for index, what in enumerate(keys):
            count, size = got[2 * index], got[2 * index + 1]
            if count > self.found[what][0]:
                self.found[what] = (count, size)

    def per_message(self) -> dict[str, Any]:
        return {
            what: {"peak": n, "bytes_per_message": round(size / n) if n else 0}
            for what, (n, size) in self.found.items()
        }


def memory_kept(
    submit_and_wait: SubmitAndWait, url: str, jobs: int, queues: list[str]
) -> dict[str, Any]:
    """Redis memory a batch of finished jobs keeps, by how long it is kept; the broker's peak."""
    footprint = RedisFootprint(url, queues)
    peak = BrokerPeak()
    try:
        before = footprint.snapshot()
        submit_and_wait(jobs, MEMORY_SUBTASKS, peak)
        found = cast(dict[str, Any], footprint.since(before, jobs))
    finally:
        footprint.close()
    index = redis.Redis.from_url(url)
    try:  # every job run so far is in the index; the batch's deletes leave it as it is
        entries = max(1, int(index.zcard(names.JOB_INDEX_KEY)))
        index_bytes = int(index.memory_usage(names.JOB_INDEX_KEY, samples=0) or 0)
    finally:
        index.close()
    fams: dict[str, Any] = found["by_family"]

    def family_bytes(pick: Callable[[str], bool]) -> int:
        return sum(int(f["bytes_per_job"]) for name, f in fams.items() if pick(name))

    deltas = family_bytes(lambda name: ":deltas:" in name)
    celery = family_bytes(lambda name: name.startswith("celery-"))
    total = int(found["freed_on_delete_per_job_bytes"])
    return {
        "subtasks": MEMORY_SUBTASKS,
        **found,
        "broker": peak.per_message(),
        "index_bytes_per_job": round(index_bytes / entries),
        # What 1,000 finished jobs keep: for their first 30 s (the workers' text as deltas),
        # up to a day (Celery's results expire then), and for the rest of the job TTL.
        "per_1000_jobs_mb": {
            "first_30_s": round(total * 1000 / 1e6, 2),
            "to_1_day": round((total - deltas) * 1000 / 1e6, 2),
            "to_job_ttl": round((total - deltas - celery) * 1000 / 1e6, 2),
        },
    }
