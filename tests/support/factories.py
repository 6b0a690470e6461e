"""Records and results for unit tests, built the way the orchestrator builds them."""

from __future__ import annotations

from datetime import UTC, datetime

from chorus.contract.models import (
    JobRecord,
    JobRequest,
    Plan,
    Subtask,
    SubtaskResult,
    SubtaskStatus,
    Usage,
)
from chorus.core import records

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def running(n: int = 3) -> JobRecord:
    record = records.new_record(
        JobRequest(task="t"), "job-1", orchestrator_model="o", worker_model="w",
        simulated=True, now=T0,
    )  # fmt: skip
    plan = Plan(
        analysis="a",
        subtasks=[Subtask(index=i, type=f"t{i}", description="d") for i in range(n)],
    )
    return records.with_plan(record, plan, Usage(input_tokens=10, output_tokens=5), T0)


def result(i: int, ok: bool = True, tokens: int = 1) -> SubtaskResult:
    return SubtaskResult(
        index=i, type=f"t{i}", description="d",
        status=SubtaskStatus.SUCCEEDED if ok else SubtaskStatus.FAILED,
        output="out" if ok else None, error=None if ok else "boom",
        usage=Usage(input_tokens=tokens, output_tokens=tokens), finished_at=T0,
    )  # fmt: skip
