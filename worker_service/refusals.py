"""Messages `worker.run_subtask` runs nothing for: malformed ones, and ones naming a subtask
its job does not own. Nothing is called for them; a malformed message naming a subtask its
job owns is recorded as that subtask failed, so the chord still completes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from chorus.contract.models import SubtaskResult, SubtaskStatus, job_id_problem
from chorus.core.ports import TaskDeps

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refused:
    """Nothing was called or written for the message; `reason` says why."""

    reason: str


def reject(deps: TaskDeps, payload: dict[str, Any], reason: str) -> SubtaskResult | Refused:
    """A malformed message: recorded as a failed subtask when it names one its job owns."""
    job_id = payload.get("job_id")
    subtask = payload.get("subtask")
    named = subtask if isinstance(subtask, dict) else {}
    index = named.get("index")
    if job_id_problem(job_id) is not None or not isinstance(index, int) or index < 0:
        # No key is built from an id over the limit, nor for no subtask at all.
        log.warning("rejected run_subtask message: %s", reason)
        return Refused(reason)
    assert isinstance(job_id, str)
    log.warning("rejected run_subtask message for job %r: %s", job_id, reason)
    already, control = deps.store.before_subtask(job_id, index)
    if already is not None:
        return already
    if control.refusal is not None:
        return Refused(f"{reason}; {control.refusal}")
    result = SubtaskResult(
        index=index,
        type=str(named.get("type", "")),
        description=str(named.get("description", "")),
        status=SubtaskStatus.FAILED,
        error=f"invalid subtask message: {reason}",
        attempts=0,
        finished_at=deps.clock(),
    )
    return deps.store.save_result(job_id, result)
