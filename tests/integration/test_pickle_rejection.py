"""JSON only: a pickled Celery message is refused by a live Chorus worker, never unpickled
(unpickling is code execution), and the worker keeps serving."""

from __future__ import annotations

import pickle
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from kombu.connection import Connection
from kombu.entity import Exchange, Queue

from chorus.contract import names
from chorus.contract.models import JobStatus
from chorus.devstack.stack import LocalStack, wait_until
from tests.support.runner import JobRunner

REFUSAL = "Refusing to deserialize untrusted content of type pickle"


class TouchOnUnpickle:
    """Unpickling this creates a file: stands in for any code an attacker would run."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[Path]]:
        return Path.touch, (self.path,)


def publish_pickled_task(redis_url: str, queue_name: str, task_name: str, marker: Path) -> str:
    """A well-formed Celery (protocol 2) task message whose body is a pickle, sent the way any
    client with access to the broker could."""
    task_id = f"pickle-{uuid.uuid4()}"
    exchange = Exchange(queue_name, type="direct")  # type: ignore[no-untyped-call]
    queue = Queue(queue_name, exchange, routing_key=queue_name)  # type: ignore[no-untyped-call]
    body = ((), {"job_id": task_id, "evil": TouchOnUnpickle(marker)}, {"callbacks": None})
    headers = {
        "lang": "py", "task": task_name, "id": task_id, "root_id": task_id, "parent_id": None,
        "group": None, "retries": 0, "eta": None, "expires": None, "argsrepr": "()",
        "kwargsrepr": "{}", "origin": "attacker@test",
    }  # fmt: skip
    with Connection(redis_url) as connection:  # type: ignore[no-untyped-call]
        connection.Producer(serializer="pickle").publish(
            body,
            exchange=queue.exchange,
            routing_key=queue_name,
            declare=[queue],
            headers=headers,
            retry=True,
        )
    return task_id


@pytest.mark.fault
@pytest.mark.parametrize(
    ("queue_name", "task_name", "node"),
    [
        (names.SUBTASKS_QUEUE, names.RUN_SUBTASK_TASK, "worker1"),
        (names.ORCHESTRATOR_QUEUE, names.RUN_JOB_TASK, "orchestrator"),
    ],
)
def test_a_pickled_message_is_refused_never_unpickled_and_the_worker_keeps_serving(
    chorus_stack: LocalStack,
    jobs: JobRunner,
    tmp_path: Path,
    queue_name: str,
    task_name: str,
    node: str,
) -> None:
    # The payload is live: unpickling it here does create its file.
    control = tmp_path / "control-unpickled"
    pickle.loads(pickle.dumps(TouchOnUnpickle(control)))  # noqa: S301 - our own payload
    assert control.exists()

    marker = tmp_path / "worker-unpickled"
    consumer = chorus_stack.process(node)
    pid, log_offset = consumer.pid, len(consumer.log_text())
    task_id = publish_pickled_task(chorus_stack.redis_url, queue_name, task_name, marker)

    def handled() -> bool:
        return marker.exists() or REFUSAL in consumer.log_text()[log_offset:]

    wait_until(handled, timeout_s=30, what=f"{node} to refuse the pickled message")
    assert not marker.exists(), f"{node} unpickled the message: the payload ran"
    assert "discarded" in consumer.log_text()[log_offset:]
    assert consumer.alive() and consumer.pid == pid

    # Consumed and dropped: not left on the queue or among unacked messages to come back.
    broker = redis.Redis.from_url(chorus_stack.redis_url)
    try:
        wait_until(
            lambda: (
                broker.llen(queue_name) == 0
                and not any(task_id.encode() in v for v in broker.hvals("unacked"))
            ),
            timeout_s=10,
            what="the refused message to be dropped",
        )
    finally:
        broker.close()

    record = jobs.run("A normal job after the pickle", options={"max_subtasks": 2})
    assert record.status is JobStatus.SUCCEEDED
    assert consumer.alive() and consumer.pid == pid
    assert not marker.exists()


# --- secrets ---------------------------------------------------------------------------------
