"""Clients that submit the workload to the queued systems and time it: Chorus as users run it
(enqueue_job, then the JobRecord) and the bare chord (send_task, then its callback's result)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

from celery.result import AsyncResult

from bench import bare_chord, workload
from chorus.contract import names
from chorus.contract.models import JobStatus
from chorus.core.submission import build_request
from chorus.runtime.app import create_celery_app
from chorus.runtime.enqueue import enqueue_job
from chorus.settings import Settings
from chorus.store.connection import redis_client
from chorus.store.jobs import JobStore, wait_for_job

TIMEOUT_S = 120.0
POLL_S = 0.01  # well under the 150 ms budget being checked


@dataclass(frozen=True)
class JobTiming:
    in_system_s: float  # the system's own clock: work started → final
    submit_to_final_s: float  # the client's clock: sent → seen final


class System(Protocol):
    name: str

    def one(self, subtasks: int) -> JobTiming: ...

    def batch(self, jobs: int, subtasks: int) -> float:
        """Submit `jobs` at once; seconds until the client has seen every one final."""
        ...

    def retries(self) -> int:
        """Model calls retried so far (a dropped connection, say): each one costs time."""
        ...

    def close(self) -> None: ...


class BenchError(RuntimeError):
    pass


Handle = TypeVar("Handle")


class QueuedSystem(Generic[Handle]):
    """Timing shared by the queued systems: submit returns a handle, finish waits on it and
    returns the system's own in-system seconds."""

    def _submit(self, subtasks: int) -> Handle:
        raise NotImplementedError

    def _finish(self, handle: Handle, subtasks: int) -> float:
        raise NotImplementedError

    def one(self, subtasks: int) -> JobTiming:
        start = time.perf_counter()
        in_system = self._finish(self._submit(subtasks), subtasks)
        return JobTiming(in_system, time.perf_counter() - start)

    def batch(self, jobs: int, subtasks: int) -> float:
        start = time.perf_counter()
        handles = [self._submit(subtasks) for _ in range(jobs)]
        for handle in handles:
            self._finish(handle, subtasks)
        return time.perf_counter() - start


class ChorusSystem(QueuedSystem[str]):
    name = "chorus"

    def __init__(self, redis_url: str) -> None:
        settings = Settings(redis_url=redis_url, anthropic_api_key=None)
        self._app = create_celery_app(settings)
        self.store = JobStore.from_settings(settings)
        self._redis = redis_client(settings)  # for Chorus's fleet counters

    def _submit(self, subtasks: int) -> str:
        return enqueue_job(self._app, build_request(workload.payload(subtasks)))

    def _finish(self, job_id: str, subtasks: int) -> float:
        record = wait_for_job(self.store, job_id, timeout_s=TIMEOUT_S, poll_s=POLL_S)
        if record.status is not JobStatus.SUCCEEDED or record.subtasks_total != subtasks:
            raise BenchError(
                f"chorus job {job_id}: {record.status.value}, {record.subtasks_total} subtasks"
                f" of {subtasks} ({record.error})"
            )
        assert record.finished_at is not None
        return (record.finished_at - record.created_at).total_seconds()

    def retries(self) -> int:
        counters = cast(dict[str, str], self._redis.hgetall(names.METRICS_KEY))
        return sum(int(float(v)) for k, v in counters.items() if k.startswith("retries:"))

    def close(self) -> None:
        self.store.close()
        self._redis.close()
        self._app.close()


class BareChordSystem(QueuedSystem[AsyncResult]):
    name = "bare_chord"

    def __init__(self, redis_url: str, base_url: str) -> None:
        self._app = bare_chord.build_app(redis_url)
        self._base_url = base_url
        self._retries = 0

    def _submit(self, subtasks: int) -> AsyncResult:
        gather_id = str(uuid.uuid4())
        kwargs: dict[str, Any] = {
            "base_url": self._base_url,
            "task": workload.TASK,
            "context": workload.CONTEXT,
            "subtasks": subtasks,
            "gather_id": gather_id,
        }
        self._app.send_task(bare_chord.PLAN_TASK, kwargs=kwargs, queue=bare_chord.PLAN_QUEUE)
        return self._app.AsyncResult(gather_id)

    def _finish(self, result: AsyncResult, subtasks: int) -> float:
        value = result.get(timeout=TIMEOUT_S, interval=POLL_S)
        self._retries += int(value["retries"])
        if value["outputs"] != subtasks:
            raise BenchError(f"bare job {result.id}: {value['outputs']} outputs of {subtasks}")
        return float(value["finished"] - value["started"])

    def retries(self) -> int:
        return self._retries

    def close(self) -> None:
        self._app.close()
