"""A chord's subtasks cost the sender no Redis subscriptions: Celery's group barrier would
SUBSCRIBE (and later UNSUBSCRIBE) to every member's result, which a chord subtask never
stores (`chorus.runtime.app.no_subtask_barriers`). Real processes, a private Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import redis

from chorus.contract.models import JobStatus
from chorus.devstack.stack import LocalStack
from tests.support.runner import runner_for


def _subscribes(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return int(stats.get("cmdstat_subscribe", {}).get("calls", 0))


def test_a_job_subscribes_to_no_subtask_result(stack_factory: Callable[..., LocalStack]) -> None:
    stack = stack_factory(simulator_latency_ms=50)
    runner = runner_for(stack)
    client = runner.store._redis
    warm = runner.submit(f"Warm-up {uuid.uuid4().hex}.")  # each process builds its clients
    runner.wait(warm, timeout_s=60)

    before = _subscribes(client)
    job_id = runner.submit(f"Subscriptions {uuid.uuid4().hex}.", options={"max_subtasks": 4})
    record = runner.wait(job_id, timeout_s=60)
    during = _subscribes(client) - before

    assert record.status is JobStatus.SUCCEEDED and record.subtasks_total >= 3
    # At most one for the job's own result, if anyone waits on it; none per subtask.
    assert during < record.subtasks_total, (during, record.subtasks_total)
