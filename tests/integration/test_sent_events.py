"""Task-sent events for Flower, from the processes that send tasks: an orchestrator's chord
subtasks and a worker's chord callback. They travel in the consumer's batches of task events
(`runtime.consumer.SentEvents`), not one message each, and every one still arrives."""

from __future__ import annotations

import threading
from typing import Any

from chorus.contract import names
from chorus.runtime.app import ChorusCelery
from tests.support.runner import JobRunner
from tests.support.waiting import wait_until


class Listener:
    """Celery's event receiver on the stack's broker, in a thread: every task-sent event,
    and how many event messages carried a batch (`task.multi`)."""

    def __init__(self, app: ChorusCelery) -> None:
        self.sent: list[dict[str, Any]] = []
        self._app = app
        self._ready = threading.Event()
        self._receiver: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the event receiver did not start"

    def _run(self) -> None:
        with self._app.connection_for_read() as connection:
            self._receiver = self._app.events.Receiver(
                connection, handlers={"task-sent": self.sent.append}
            )
            self._ready.set()
            try:
                self._receiver.capture(limit=None, timeout=None, wakeup=False)
            except Exception:  # stopped under it at the end
                if not self._receiver.should_stop:
                    raise

    def stop(self) -> None:
        self._receiver.should_stop = True
        self._thread.join(10)


def test_every_task_sent_event_arrives_from_its_senders_batch(
    jobs: JobRunner, client_app: ChorusCelery
) -> None:
    listener = Listener(client_app)
    try:
        record = jobs.run("Sent events job", options={"max_subtasks": 3})

        def mine() -> list[dict[str, Any]]:
            return [e for e in listener.sent if record.job_id in str(e.get("kwargs"))]

        def subtasks_and_gather() -> bool:
            kinds = {e["name"] for e in mine()}
            return {names.RUN_SUBTASK_TASK, names.GATHER_RESULTS_TASK} <= kinds

        wait_until(subtasks_and_gather, timeout_s=30, what="the job's task-sent events")
    finally:
        listener.stop()
    events = mine()
    subtasks = [e for e in events if e["name"] == names.RUN_SUBTASK_TASK]
    assert len({e["uuid"] for e in subtasks}) == len(record.results) == 3
    # Sent through the consumer's dispatcher: named after the node that sent them (Celery's
    # own would name an anonymous one), the subtasks by the orchestrator, the gather by the
    # worker whose chord part completed the chord.
    hosts = {e["name"]: e["hostname"].split("@")[0] for e in events}
    assert hosts[names.RUN_SUBTASK_TASK] == "orchestrator"
    assert hosts[names.GATHER_RESULTS_TASK].startswith("worker")
