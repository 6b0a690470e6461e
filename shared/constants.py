"""Names and limits shared by every Chorus process: queues, task names, Redis keys, timeouts.

Everything a deployment or another service may need to match lives here, so a change is one edit.
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
    """Hash read before every model call: tokens and cost_usd spent so far (for budgets) and
    `cancelled`, in one round trip."""
    return f"{KEY_PREFIX}:job:{job_id}:control"


def job_gather_claim_key(job_id: str) -> str:
    """Which gather task may make the job's one synthesis call."""
    return f"{KEY_PREFIX}:job:{job_id}:gather"


def job_events_key(job_id: str) -> str:
    """Redis Stream of the job's progress events."""
    return f"{KEY_PREFIX}:job:{job_id}:events"


def tenant_index_key(tenant: str) -> str:
    """Sorted set of one tenant's job ids by creation time."""
    return f"{KEY_PREFIX}:tenant:{tenant}:jobs"


LEDGERS_KEY: Final = f"{KEY_PREFIX}:ledgers"  # set of live process ledgers (shared.redelivery)


def ledger_key(instance: str) -> str:
    """Hash of the broker deliveries one Celery process holds: delivery tag → task id."""
    return f"{KEY_PREFIX}:ledger:{instance}"


def heartbeat_key(instance: str) -> str:
    return f"{KEY_PREFIX}:heartbeat:{instance}"


def idempotency_key(tenant: str, key: str) -> str:
    return f"{KEY_PREFIX}:idempotency:{tenant}:{key}"


JOB_INDEX_KEY: Final = f"{KEY_PREFIX}:jobs"  # sorted set of job ids by creation time
METRICS_KEY: Final = f"{KEY_PREFIX}:metrics"  # hash of fleet-wide counters (see shared.metrics)

# Input limits: checked at every boundary (CLI, Celery task, later the HTTP API).
MAX_TASK_CHARS: Final = 100_000
MAX_CONTEXT_BYTES: Final = 200_000
DEFAULT_MAX_SUBTASKS: Final = 5
HARD_MAX_SUBTASKS: Final = 20
MAX_SUBTASK_TYPE_CHARS: Final = 80
MAX_SUBTASK_DESCRIPTION_CHARS: Final = 2_000
MAX_OUTPUT_TOKENS_CAP: Final = 32_000

# Celery logs each task's return value; model outputs make that a page per line, so cut it.
RESULT_LOG_CHARS: Final = 160

# Redis connections (seconds): a dead socket is noticed, a restart is ridden out.
REDIS_SOCKET_TIMEOUT_S: Final = 30.0
REDIS_CONNECT_TIMEOUT_S: Final = 5.0
REDIS_HEALTH_CHECK_S: Final = 15
DEFAULT_REDIS_RETRY_S: Final = 60.0

# Timeouts and retention (seconds).
DEFAULT_JOB_TTL_S: Final = 7 * 24 * 3600
CELERY_RESULT_TTL_S: Final = 24 * 3600
DEFAULT_MODEL_TIMEOUT_S: Final = 120.0
# Redis visibility timeout: must outlast the slowest subtask including its retries' waits.
DEFAULT_VISIBILITY_TIMEOUT_S: Final = 3600
DEFAULT_RETRY_BASE_S: Final = 1.0
DEFAULT_RETRY_MAX_S: Final = 60.0
DEFAULT_MAX_ATTEMPTS: Final = 4
# On SIGTERM a worker finishes its in-flight calls for this long, then hands the rest back.
# Below Docker's and Kubernetes' usual 30 s before SIGKILL.
DEFAULT_SHUTDOWN_GRACE_S: Final = 25.0
# A gather step that finds results missing looks again after 1, 2, 4, 8 s, then every 15 s.
GATHER_RECHECK_FIRST_S: Final = 1.0
GATHER_RECHECK_MAX_S: Final = 15.0
# A process that misses heartbeats for this long is dead: its messages go back to the queues.
DEFAULT_HEARTBEAT_INTERVAL_S: Final = 3.0
DEFAULT_HEARTBEAT_TTL_S: Final = 15.0

# Threads per process. Model calls are I/O bound: one worker process holds this many in flight
# (see README "Sizing workers" for the pool comparison behind the figure).
DEFAULT_WORKER_CONCURRENCY: Final = 200
DEFAULT_ORCHESTRATOR_CONCURRENCY: Final = 64
DEFAULT_WORKER_POOL: Final = "threads"

DEFAULT_ORCHESTRATOR_MODEL: Final = "claude-sonnet-5-5"
DEFAULT_WORKER_MODEL: Final = "claude-haiku-5-5"
DEFAULT_PLAN_MAX_TOKENS: Final = 2_048
DEFAULT_WORKER_MAX_TOKENS: Final = 1_024
