"""What a run costs besides time: a process's peak resident memory, and the Redis memory the
jobs leave behind, by kind of key."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import redis


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name may hold spaces and parentheses: the fields start after the last ')'.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _pss_kb(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in text.splitlines() if line.startswith("Pss:")), 0)


def peak_rss_mb(pid: int) -> dict[str, float]:
    """VmHWM of the process, plus that of its children (prefork's pool processes). The sum
    counts pages shared after fork once per process, so it overstates prefork's real use."""
    family_pids = [pid, *children(pid)]
    main = _status_kb(pid, "VmHWM") / 1024
    kids = [_status_kb(child, "VmHWM") / 1024 for child in family_pids[1:]]
    return {
        "main_mb": round(main, 1),
        "children": len(kids),
        "children_mb": round(sum(kids), 1),
        "total_mb": round(main + sum(kids), 1),
        # Proportional set size now: shared pages split between the processes sharing them.
        "pss_now_mb": round(sum(_pss_kb(p) for p in family_pids) / 1024, 1),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CostMeter:
    """CPU per process and Redis commands over one batch, per job: where a system's time goes
    once the model calls cost nothing. Commands run inside Lua scripts count one by one."""

    def __init__(self, redis_url: str, pids: dict[str, int]) -> None:
        self._redis = redis.Redis.from_url(redis_url, decode_responses=True)
        self._pids = pids
        self._cpu: dict[str, float] = {}

    def start(self) -> None:
        self._redis.config_resetstat()
        self._cpu = {name: cpu_seconds(pid) for name, pid in self._pids.items()}

    def stop(self, jobs: int) -> dict[str, object]:
        cpu = {
            name: round((cpu_seconds(pid) - self._cpu[name]) * 1000 / jobs, 1)
            for name, pid in self._pids.items()
        }
        calls = {
            name.removeprefix("cmdstat_"): int(stat["calls"])
            for name, stat in self._redis.info("commandstats").items()
        }
        top = sorted(calls.items(), key=lambda kv: -kv[1])[:10]
        self._redis.close()
        return {
            "cpu_ms_per_job": cpu,
            "cpu_ms_per_job_total": round(sum(cpu.values()), 1),
            "redis_commands_per_job": round(sum(calls.values()) / jobs, 1),
            "redis_top_commands_per_job": {name: round(n / jobs, 1) for name, n in top},
        }


# The workers' text as it was written: expires CHORUS_DELTA_LINGER_S (30 s) after each result.
DELTAS_FAMILY = "chorus:job:<id>:deltas:<n> (the workers' text, for 30 s)"
_FAMILIES = [
    ("chorus:job:<id> (the JobRecord)", re.compile(r"^chorus:job:[^:]+$")),
    ("chorus:job:<id>:results", re.compile(r"^chorus:job:[^:]+:results$")),
    ("chorus:job:<id>:events", re.compile(r"^chorus:job:[^:]+:events$")),
    ("chorus:job:<id>:control", re.compile(r"^chorus:job:[^:]+:control$")),
    ("chorus:job:<id>:gather", re.compile(r"^chorus:job:[^:]+:gather$")),
    (DELTAS_FAMILY, re.compile(r"^chorus:job:[^:]+:deltas:")),
    ("celery-task-meta-<task id> (Celery results)", re.compile(r"^celery-task-meta-")),
    ("celery-taskset-meta-<group>.* (chord state)", re.compile(r"^celery-taskset-meta-")),
]


def family(key: str) -> str:
    return next((name for name, pattern in _FAMILIES if pattern.match(key)), "other")


@dataclass(frozen=True)
class Snapshot:
    used_memory: int
    used_memory_dataset: int  # without client buffers and Redis's own overhead
    keys: frozenset[str]


class RedisFootprint:
    """Redis memory added by a batch of jobs: INFO used_memory before and after, and MEMORY
    USAGE of every key the batch created, by family."""

    def __init__(
        self, url: str, queues: list[str], *, record_pattern: str | None = r"^chorus:job:[^:]+$"
    ) -> None:
        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._queues = queues
        # Without a record key per job (the bare chord), the batch size is the count.
        self._record = re.compile(record_pattern) if record_pattern else None

    def snapshot(self) -> Snapshot:
        keys = frozenset(str(k) for k in self._redis.scan_iter(count=1000))
        memory = self._redis.info("memory")
        return Snapshot(int(memory["used_memory"]), int(memory["used_memory_dataset"]), keys)

    def since(self, before: Snapshot, jobs: int, settle_s: float = 1.0) -> dict[str, object]:
        # The second gather trigger and Celery's result writes land just after the record
        # turns final; let them in so the figure is what a finished job really keeps, and
        # so no task still needs a key when the batch's keys are deleted below.
        time.sleep(settle_s)
        deadline = time.monotonic() + 30
        while not self._quiet() and time.monotonic() < deadline:
            time.sleep(0.1)
        after = self.snapshot()
        new = sorted(after.keys - before.keys)
        with self._redis.pipeline(transaction=False) as pipe:
            for key in new:
                pipe.memory_usage(key, samples=0)
            sizes = pipe.execute()
        by_family: dict[str, list[int]] = {}
        example: dict[str, str] = {}
        for key, size in zip(new, sizes, strict=True):
            by_family.setdefault(family(key), []).append(int(size or 0))
            example.setdefault(family(key), key)
        records = sum(1 for key in new if self._record and self._record.match(key))
        kept = records or jobs
        freed = self._delete(new)
        return {
            "jobs": jobs,
            "records_kept": records,
            "used_memory_delta_bytes": after.used_memory - before.used_memory,
            "used_memory_per_job_bytes": round((after.used_memory - before.used_memory) / kept),
            "used_memory_dataset_per_job_bytes": round(
                (after.used_memory_dataset - before.used_memory_dataset) / kept
            ),
            # The quiet figure: growth above also moves with client buffers (hundreds of
            # connections), deleting the batch's keys from one idle connection does not.
            # The keyspace's hash table keeps its size, so this misses ~20 B per key.
            "freed_on_delete_per_job_bytes": round(freed / kept),
            "new_keys": len(new),
            "by_family": {
                name: {
                    "keys": len(sizes_),
                    "bytes_per_job": round(sum(sizes_) / kept),
                    "median_key_bytes": sorted(sizes_)[len(sizes_) // 2],
                    "example": example[name],
                }
                for name, sizes_ in sorted(by_family.items())
            },
        }

    def _quiet(self) -> bool:
        """No message waiting in the system's queues, none delivered and unacknowledged."""
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hlen("unacked")
            for queue in self._queues:
                pipe.llen(queue)
            return not any(pipe.execute())

    def _delete(self, keys: list[str]) -> int:
        """Delete the batch's keys (the records have been read); returns used_memory freed."""
        before = int(self._redis.info("memory")["used_memory"])
        for start in range(0, len(keys), 500):
            self._redis.delete(*keys[start : start + 500])
        return before - int(self._redis.info("memory")["used_memory"])

    def close(self) -> None:
        self._redis.close()
