"""Limits and defaults: input caps checked at every boundary, timeouts, retention, pool sizes.

Settings take their defaults from here, so one edit changes a default everywhere.
"""

from typing import Final

# Input limits: checked at every boundary (CLI, Celery task, later the HTTP API).
MAX_TASK_CHARS: Final = 100_000
# Job ids become Redis keys and log fields: bounded at every door (API, CLI, clients, tasks).
MAX_JOB_ID_CHARS: Final = 128
MAX_CONTEXT_BYTES: Final = 200_000
DEFAULT_MAX_SUBTASKS: Final = 5
HARD_MAX_SUBTASKS: Final = 20
MAX_SUBTASK_TYPE_CHARS: Final = 80
MAX_SUBTASK_DESCRIPTION_CHARS: Final = 2_000
MAX_OUTPUT_TOKENS_CAP: Final = 32_000
MAX_TEMPLATE_CHARS: Final = 20_000
MAX_SCHEMA_BYTES: Final = 20_000

# Celery logs each task's return value; model outputs make that a page per line, so cut it.
RESULT_LOG_CHARS: Final = 160

# Redis connections (seconds): a dead socket is noticed, a restart is ridden out.
REDIS_SOCKET_TIMEOUT_S: Final = 30.0
REDIS_CONNECT_TIMEOUT_S: Final = 5.0
REDIS_HEALTH_CHECK_S: Final = 15
DEFAULT_REDIS_RETRY_S: Final = 60.0
# Someone waits on the answer (an HTTP request, a CLI command): Redis away is an error this soon.
FAIL_FAST_REDIS_S: Final = 1.5
# The Redis `chorus up` starts: a stable port (REDIS_URL stays the same from one run to the
# next) beside the machine's own Redis on 6379, never on it.
UP_REDIS_PORT: Final = 6390
# Connections a process's Redis pool holds beyond one per thread (heartbeat, ledger, API).
REDIS_POOL_HEADROOM: Final = 16
# Redis connections the API's event streams share (each follower holds one while it waits).
# Also the most streams open at once: one more is refused with 503 rather than left waiting.
API_STREAM_CONNECTIONS: Final = 512
# An idle stream costs one XREAD per keep-alive; under a client's 30 s default read timeout.
STREAM_KEEPALIVE_S: Final = 5.0
# An idle stream asks whether its job still exists this often (its last event ends it sooner).
STREAM_RECHECK_S: Final = 60.0

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
# The reconciler's sweep and how long a job must have nothing in flight before it acts.
DEFAULT_RECONCILE_INTERVAL_S: Final = 5.0
DEFAULT_RECONCILE_GRACE_S: Final = 10.0
# A worker with a model reply it cannot store keeps trying this long (bounded further by the
# job's deadline and the visibility timeout).
DEFAULT_RESULT_SAVE_CAP_S: Final = 900.0

# Threads per process. Model calls are I/O bound: one worker process holds this many in flight
# (see README "Sizing workers" for the pool comparison behind the figure).
DEFAULT_WORKER_CONCURRENCY: Final = 200
DEFAULT_ORCHESTRATOR_CONCURRENCY: Final = 64
DEFAULT_WORKER_POOL: Final = "threads"

DEFAULT_ORCHESTRATOR_MODEL: Final = "claude-sonnet-5-5"
DEFAULT_WORKER_MODEL: Final = "claude-haiku-5-5"
DEFAULT_PLAN_MAX_TOKENS: Final = 2_048
DEFAULT_WORKER_MAX_TOKENS: Final = 1_024
