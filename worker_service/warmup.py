"""A worker call's part in its job's cache warm-up (`chorus.core.caching`): a follower waits
for the lead call's first token before its own call; the lead says when that token arrives,
and says so too when it fails or is put off first, so nobody waits for a call not coming.

A follower waits holding its worker thread, at most `CacheUse.wait_s` (a time to first
token: seconds), and then calls anyway: the cost of a late lead is a cache write, never a
hung subtask.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from chorus.contract.caching import CacheTtl
from chorus.contract.models import SubtaskAssignment
from chorus.core import caching
from chorus.core.ports import TaskDeps

log = logging.getLogger(__name__)


def cache_ttl(deps: TaskDeps, assignment: SubtaskAssignment) -> CacheTtl | None:
    """The TTL to mark the shared block with (None: unmarked), after waiting for the lead
    when this call follows one."""
    use = assignment.cache
    if use is None:
        return None
    if use.role == "follow":
        warm = _safely(
            lambda: deps.store.wait_cache_warm(assignment.job_id, assignment.model, use.wait_s)
        )
        if not warm:
            log.info(
                "job %s subtask %d: no warm cache after %.0fs; calling anyway",
                assignment.job_id,
                assignment.subtask.index,
                use.wait_s,
            )
    return caching.effective_ttl(use, assignment.dispatched_at, deps.clock())


def lead_signal(deps: TaskDeps, assignment: SubtaskAssignment) -> Callable[[], None] | None:
    """For the lead call: a function that sends the warm signal once (its first token, or its
    failure); None for any other call."""
    use = assignment.cache
    if use is None or use.role != "lead":
        return None
    sent = False

    def signal() -> None:
        nonlocal sent
        if not sent:
            sent = True
            _safely(lambda: deps.store.cache_warmed(assignment.job_id, assignment.model))

    return signal


def with_signal(
    on_text: Callable[[str], None] | None, signal: Callable[[], None] | None
) -> Callable[[str], None] | None:
    """`on_text` that also sends the lead's signal on the first piece of text."""
    if signal is None:
        return on_text

    def both(text: str) -> None:
        signal()
        if on_text is not None:
            on_text(text)

    return both


def _safely(action: Callable[[], object]) -> bool:
    """The signal is an optimisation: with the store away, go on uncached rather than fail."""
    try:
        return bool(action())
    except Exception as exc:
        log.warning("cache warm-up signal unavailable: %s", type(exc).__name__)
        return False
