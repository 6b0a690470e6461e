"""What a task waiting for its batch request (a subtask's or a planning call's) decides on
each visit it finds no outcome: give up on the batch, or put back a request a dead flush left
behind, and wait on."""

from __future__ import annotations

import logging

from chorus.contract.batches import BatchItem, flush_lease_s
from chorus.core.ports import BatchPort, TaskDeps

log = logging.getLogger(__name__)


def gave_up(deps: TaskDeps, port: BatchPort, item: BatchItem, what: str) -> bool:
    """True once the request has waited past batch_max_wait_s (the caller calls directly);
    else the caller waits on, its request put back first if a flush took it and died."""
    now = deps.clock()
    waited = (now - item.added_at).total_seconds()
    if waited > deps.settings.batch_max_wait_s:
        log.info("%s: no batch answer after %.0fs; calling directly", what, waited)
        return True
    taken = item.taken_at
    lease = flush_lease_s(deps.settings.model_timeout_s)
    if item.state == "taking" and taken is not None and (now - taken).total_seconds() > lease:
        log.warning("%s: the flush that took its request died; put back", what)
        port.requeue(item.custom_id, taken)
    return False
