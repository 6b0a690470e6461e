"""Names every Chorus process and every client must agree on: queues, task names, Redis keys.

These are the public contract (other services enqueue by task name and read records by key):
a change here is a breaking change.
"""

from typing import Final

# Celery queues and the public task names (the contract other services enqueue by).
ORCHESTRATOR_QUEUE: Final = "orchestrator"
SUBTASKS_QUEUE: Final = "subtasks"
RUN_JOB_TASK: Final = "orchestrator.run_job"
GATHER_RESULTS_TASK: Final = "orchestrator.gather_results"
RUN_SUBTASK_TASK: Final = "worker.run_subtask"

# Redis keys. The record is the public one; the rest are Chorus internals.
KEY_PREFIX: Final = "chorus"


def job_key(job_id: str) -> str:
    """The JobRecord JSON of one job."""
    return f"{KEY_PREFIX}:job:{job_id}"


def job_results_key(job_id: str) -> str:
    """Hash of final SubtaskResult JSON by subtask index: the idempotency ledger of a job."""
    return f"{KEY_PREFIX}:job:{job_id}:results"


def job_control_key(job_id: str) -> str:
    """Hash read before every model call: tokens and cost_usd spent so far (for budgets),
    `cancelled`, and `subtasks` (the plan's indices, comma-separated, while the job awaits
    their results), in one round trip."""
    return f"{KEY_PREFIX}:job:{job_id}:control"


def job_gather_claim_key(job_id: str) -> str:
    """Which gather task may make the job's one synthesis call."""
    return f"{KEY_PREFIX}:job:{job_id}:gather"


def job_planning_claim_key(job_id: str) -> str:
    """Which delivery of `orchestrator.run_job` may ask the model for the job's plan."""
    return f"{KEY_PREFIX}:job:{job_id}:planning"


def job_dispatched_key(job_id: str) -> str:
    """Set just before the job's chord is sent: the chord goes out once per job."""
    return f"{KEY_PREFIX}:job:{job_id}:dispatched"


def job_events_key(job_id: str) -> str:
    """Redis Stream of the job's progress events."""
    return f"{KEY_PREFIX}:job:{job_id}:events"


def tenant_index_key(tenant: str) -> str:
    """Sorted set of one tenant's job ids by creation time."""
    return f"{KEY_PREFIX}:tenant:{tenant}:jobs"


LEDGERS_KEY: Final = f"{KEY_PREFIX}:ledgers"  # live process ledgers (chorus.runtime.redelivery)


def ledger_key(instance: str) -> str:
    """Hash of the broker deliveries one Celery process holds: delivery tag → task id."""
    return f"{KEY_PREFIX}:ledger:{instance}"


def heartbeat_key(instance: str) -> str:
    return f"{KEY_PREFIX}:heartbeat:{instance}"


def idempotency_key(tenant: str, key: str) -> str:
    return f"{KEY_PREFIX}:idempotency:{tenant}:{key}"


JOB_INDEX_KEY: Final = f"{KEY_PREFIX}:jobs"  # sorted set of job ids by creation time
# Sorted set of the jobs not yet final (by creation time): what the reconciler watches.
ACTIVE_JOBS_KEY: Final = f"{KEY_PREFIX}:jobs:active"
# Held by the one process (fleet-wide) running the reconciler's sweeps.
RECONCILER_LEASE_KEY: Final = f"{KEY_PREFIX}:reconciler:lease"
# Message header naming the job a Celery message works for: the reconciler finds a job's
# messages (queued, reserved, running, waiting on a retry countdown) by it.
JOB_HEADER: Final = "chorus_job"
METRICS_KEY: Final = f"{KEY_PREFIX}:metrics"  # fleet-wide counters (chorus.core.metrics)
