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
# How a chord subtask's Celery task id ends (`<uuid>-subtask`): it stores no Celery result, so
# nothing subscribes to one (`chorus.runtime.app.no_subtask_barriers`).
CHORD_SUBTASK_ID_SUFFIX: Final = "-subtask"
# Answer a plan awaiting review through Celery (kwargs: chorus.contract.actions.PlanReview
# fields plus job_id), as `POST /v1/jobs/{id}/plan` does over HTTP.
REVIEW_PLAN_TASK: Final = "orchestrator.review_plan"
# Re-run what failed (kwargs: job_id, options), as `POST /v1/jobs/{id}/retry` does.
RETRY_JOB_TASK: Final = "orchestrator.retry_job"
# Batch mode's internals (chorus.orchestrator_service.batching): send the collected requests
# as one Message Batch; look at a batch until it has ended and store its results.
BATCH_FLUSH_TASK: Final = "orchestrator.batch_flush"
BATCH_POLL_TASK: Final = "orchestrator.batch_poll"

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


def job_deltas_key(job_id: str, index: int) -> str:
    """Stream of one subtask's `subtask_delta` events: deleted when an attempt fails, and set to
    expire shortly (`delta_linger_s`) once its result is recorded or the job is final."""
    return f"{KEY_PREFIX}:job:{job_id}:deltas:{index}"


def job_cache_warm_key(job_id: str, model: str) -> str:
    """Stream whose one entry says the job's cache entry on `model` is warm (or that its
    warm-up call failed): the job's other calls on that model wait for it."""
    return f"{KEY_PREFIX}:job:{job_id}:warm:{model}"


def job_synthesis_deltas_key(job_id: str) -> str:
    """Stream of the synthesis call's `subtask_delta` events (index null, synthesis true)."""
    return f"{KEY_PREFIX}:job:{job_id}:deltas:synthesis"


# Sorted set of job ids with a webhook to deliver, scored by when the next attempt is due.
WEBHOOK_OUTBOX_KEY: Final = f"{KEY_PREFIX}:webhooks:due"


def tenant_index_key(tenant: str) -> str:
    """Sorted set of one tenant's job ids by creation time."""
    return f"{KEY_PREFIX}:tenant:{tenant}:jobs"


LEDGERS_KEY: Final = f"{KEY_PREFIX}:ledgers"  # live process ledgers (chorus.runtime.redelivery)


def ledger_key(instance: str) -> str:
    """Hash of the broker deliveries one Celery process holds: delivery tag → task id."""
    return f"{KEY_PREFIX}:ledger:{instance}"


# Each hand-back gives the message a fresh delivery tag, `<first tag>.<n>`, n from this counter
# (chorus.runtime.redelivery): kombu keeps the tag a message got when it was published, so
# without it a stale tag (a late reaper's, a slow worker's late ack) would name the new delivery.
HANDBACK_SEQ_KEY: Final = f"{KEY_PREFIX}:handback:seq"
HANDBACK_TAG_SEPARATOR: Final = "."


def first_delivery_tag(tag: str) -> str:
    """The tag a message was first delivered under, whatever hand-backs renamed it since."""
    return tag.split(HANDBACK_TAG_SEPARATOR, 1)[0]


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
# Batch mode (chorus.store.batches): the custom_ids waiting for the next batch, and the marker
# set by the first request since the last flush (its flush is scheduled).
BATCH_PENDING_KEY: Final = f"{KEY_PREFIX}:batch:pending"
BATCH_FLUSH_MARK_KEY: Final = f"{KEY_PREFIX}:batch:flush"


def batch_item_key(custom_id: str) -> str:
    """One batch request's BatchItem JSON (its params, its state, the batch it is in)."""
    return f"{KEY_PREFIX}:batch:item:{custom_id}"


def batch_outcome_key(custom_id: str) -> str:
    """What came back for one batch request (BatchOutcome JSON)."""
    return f"{KEY_PREFIX}:batch:outcome:{custom_id}"


def batch_info_key(batch_id: str) -> str:
    """Which requests and jobs a created batch holds (BatchInfo JSON), for its polls."""
    return f"{KEY_PREFIX}:batch:batch:{batch_id}"


METRICS_KEY: Final = f"{KEY_PREFIX}:metrics"  # fleet-wide counters (chorus.core.metrics)


def fleet_minute_key(epoch_minute: int) -> str:
    """Hash of one minute's fleet counters (chorus.core.fleet_buckets), for the console's Fleet
    page: jobs and subtasks finished and dollars by model and tenant. Expires after ~2 hours."""
    return f"{KEY_PREFIX}:fleet:minute:{epoch_minute}"
