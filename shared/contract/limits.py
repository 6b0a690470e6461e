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
# A worker's task events go out in batches at most this often (`chorus.runtime.consumer`).
EVENT_FLUSH_S: Final = 0.05
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

# Prompt caching: how long a worker call waits at most for the call warming the shared
# block to start answering (a time to first token is seconds; past this, go uncached).
DEFAULT_CACHE_WARM_WAIT_S: Final = 30.0
# The cache keeps an entry 5 minutes after its last use; a job whose calls are spread wider
# (queued that long) writes with the 1-hour TTL.
CACHE_SHORT_TTL_S: Final = 300.0
CACHE_SIGNAL_TTL_S: Final = 3600.0
# Batch mode: the Message Batches API takes up to 100,000 requests per batch and answers
# within 24 hours; results are kept for 29 days.
DEFAULT_BATCH_WINDOW_S: Final = 30.0
DEFAULT_BATCH_MAX_REQUESTS: Final = 1_000
MAX_BATCH_REQUESTS: Final = 100_000
DEFAULT_BATCH_POLL_S: Final = 30.0
DEFAULT_BATCH_MAX_WAIT_S: Final = 25 * 3600.0

# Timeouts and retention (seconds).
DEFAULT_JOB_TTL_S: Final = 7 * 24 * 3600
CELERY_RESULT_TTL_S: Final = 24 * 3600
# A model call answered in one piece (planning), a streamed call as a whole (a 32,000-token
# reply takes minutes), and the longest gap between two chunks of a streamed reply.
DEFAULT_MODEL_TIMEOUT_S: Final = 120.0
DEFAULT_STREAM_TIMEOUT_S: Final = 900.0
DEFAULT_MODEL_IDLE_TIMEOUT_S: Final = 60.0
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

# Threads per process. Model calls are I/O bound: a worker thread waits on its call, so these
# bound the calls (planning calls, for an orchestrator) one process holds at once. At 200 jobs
# x 5 subtasks and 5 s per call, 1000 and 200 held 960 calls at once (16.5 s, `make bench` at
# fac3605); what bounds one process then is its CPU, not its threads (README "Sizing
# workers", docs/scaling.md).
DEFAULT_WORKER_CONCURRENCY: Final = 1000
DEFAULT_ORCHESTRATOR_CONCURRENCY: Final = 200
DEFAULT_WORKER_POOL: Final = "threads"

DEFAULT_ORCHESTRATOR_MODEL: Final = "claude-sonnet-5-5"
DEFAULT_WORKER_MODEL: Final = "claude-haiku-5-5"
DEFAULT_PLAN_MAX_TOKENS: Final = 2_048
DEFAULT_WORKER_MAX_TOKENS: Final = 1_024

# A tenant name (from the API's tokens): no ':', so it can sit inside a key or a metric field.
TENANT_PATTERN: Final = r"^[A-Za-z0-9_.-]{1,64}$"

# Live and resumable jobs (streaming, plan review, webhooks).
# Worker text goes out as `subtask_delta` events at most this often per subtask.
DELTA_FLUSH_S: Final = 0.1
# ... and the first batch this soon after the first token: a reply written faster than that
# costs one write, and a reader still sees the text begin at once.
DELTA_FIRST_FLUSH_S: Final = 0.05
# A subtask's delta stream lives this long after its result is recorded (a reader a moment
# behind still gets the last batch), and every delta stream of a job this long after it ends.
DEFAULT_DELTA_LINGER_S: Final = 30.0
# A plan may wait for its reviewer at most this long (options.review_timeout_s).
MAX_REVIEW_TIMEOUT_S: Final = 30 * 24 * 3600
MAX_WEBHOOK_URL_CHARS: Final = 2_048
# A webhook is retried with backoff for this long after the job's final state, then given up.
WEBHOOK_RETRY_FOR_S: Final = 24 * 3600
WEBHOOK_TIMEOUT_S: Final = 10.0
# How many runs (the first and each retry) one job keeps on record.
MAX_JOB_RUNS: Final = 20
