"""What each event adds to the fleet's counters: field names and increments, pure.

Every Chorus process increments one Redis hash inside the transaction that makes the event
happen (a job created, a job finalised, a subtask result recorded), so a redelivery counts
nothing twice; `chorus.store.metrics` turns the hash into Prometheus families at scrape time.
"""

from __future__ import annotations

from chorus.contract.models import JobRecord, JobStatus, SubtaskResult, Usage

# Model calls take seconds; the buckets span a fast cached reply to a long retried subtask.
LATENCY_BUCKETS_S: tuple[float, ...] = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
TOKEN_KINDS = ("input", "output", "cache_creation_input", "cache_read_input")

JOBS_SUBMITTED = "jobs_submitted"


def jobs_finished_field(status: JobStatus) -> str:
    return f"jobs_finished:{status.value}"


def retries_field(stage: str) -> str:
    return f"retries:{stage}"


# Jobs submitted without a tenant (the CLI, a Celery client, no API tokens) count under this.
NO_TENANT = "default"


def token_increments(
    model: str | None, usage: Usage, tenant: str | None = None
) -> dict[str, float]:
    """What a model call's usage adds: tokens by model and kind, tokens by tenant and kind, and
    dollars by model and tenant. Tenant names have no ':', so each field splits on the last."""
    counts = {
        "input": usage.input_tokens,
        "output": usage.output_tokens,
        "cache_creation_input": usage.cache_creation_input_tokens,
        "cache_read_input": usage.cache_read_input_tokens,
    }
    name = model or "unknown"
    who = tenant or NO_TENANT
    increments: dict[str, float] = {f"tokens:{name}:{kind}": n for kind, n in counts.items() if n}
    increments |= {f"tenant_tokens:{who}:{kind}": n for kind, n in counts.items() if n}
    if usage.cost_usd:
        increments[f"cost:{name}:{who}"] = usage.cost_usd
    return increments


def latency_bucket(seconds: float) -> str:
    """The smallest bucket bound the value fits under, as stored (non-cumulative)."""
    for bound in LATENCY_BUCKETS_S:
        if seconds <= bound:
            return f"subtask_seconds_bucket:{bound:g}"
    return "subtask_seconds_bucket:+Inf"


def result_increments(result: SubtaskResult, tenant: str | None = None) -> dict[str, float]:
    """What recording this final subtask result adds to the fleet's counters."""
    increments: dict[str, float] = {f"subtasks_finished:{result.status.value}": 1}
    if result.started_at is not None and result.finished_at is not None:
        seconds = max(0.0, (result.finished_at - result.started_at).total_seconds())
        increments[latency_bucket(seconds)] = 1
        increments["subtask_seconds_sum"] = seconds
        increments["subtask_seconds_count"] = 1
    increments.update(token_increments(result.model, result.usage, tenant))
    return increments


def finalised_increments(before: JobRecord, after: JobRecord) -> dict[str, float]:
    """Counters for a record change: a job reaching a final status counts once, with the
    synthesis call's tokens (the only model call not counted where it happens)."""
    if before.status.is_final or not after.status.is_final:
        return {}
    increments: dict[str, float] = {jobs_finished_field(after.status): 1}
    increments.update(
        token_increments(after.orchestrator_model, after.synthesis_usage, after.request.tenant)
    )
    return increments
