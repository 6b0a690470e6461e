"""What every Chorus Celery process (orchestrator or worker) does at start, around each task
and at shutdown: JSON logs with the task's job, the delivery ledger and heartbeat that let a
dead process's messages be handed back in seconds, and a bounded SIGTERM.

Nothing is connected at import: `install(app)` connects the hooks of one process's app
(called by `chorus.runtime.main`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any, Protocol

from celery import signals

from chorus.contract import names
from chorus.runtime import broker_compat, logs
from chorus.runtime.app import ChorusCelery
from chorus.runtime.pool import prestart_threads
from chorus.runtime.redelivery import DeliveryLedger, HeartbeatThread
from chorus.store.connection import redis_client

log = logging.getLogger(__name__)


class Background(Protocol):
    """A thread an orchestrator process runs beside its tasks (the reconciler)."""

    def start(self) -> None: ...
    def stop(self) -> None: ...


class Backgrounds:
    """Several background threads started and stopped as one (the reconciler, the webhook
    sender)."""

    def __init__(self, *parts: Background) -> None:
        self.parts = parts

    def start(self) -> None:
        for part in self.parts:
            part.start()

    def stop(self) -> None:
        for part in self.parts:
            part.stop()


class ProcessLifecycle:
    def __init__(
        self, app: ChorusCelery, orchestrator_background: Callable[[], Background] | None = None
    ) -> None:
        self.settings = app.settings
        self.ledger: DeliveryLedger | None = None
        self.heartbeat: HeartbeatThread | None = None
        self._make_background = orchestrator_background
        self.background: Background | None = None

    def adjust_broker(self, **_: Any) -> None:
        broker_compat.install(lambda: redis_client(self.settings))

    def configure_logging(self, loglevel: Any = "INFO", **_: Any) -> None:
        # Connected, so Celery installs no handlers of its own: every line goes out in our format.
        logs.configure_logging("celery", self.settings.log_format, loglevel or "INFO")

    def name_process(self, sender: Any = None, **_: Any) -> None:
        logs.set_node(str(sender))
        # Before the consumer starts: every delivery from the first one on is in the ledger.
        self._keep_ledger(str(sender))

    def _keep_ledger(self, node: str) -> DeliveryLedger:
        if self.ledger is None:
            self.ledger = DeliveryLedger(
                redis_client(self.settings), node, heartbeat_ttl_s=self.settings.heartbeat_ttl_s
            )
            broker_compat.keep_ledger(self.ledger.key)
        return self.ledger

    def start(self, sender: Any = None, **_: Any) -> None:
        # Say plainly, once per process, whether outputs come from a real model or the simulator.
        log.info("model endpoint: %s", self.settings.describe_model_endpoint())
        prestart_threads(getattr(sender, "pool", None))
        ledger = self._keep_ledger(str(getattr(sender, "hostname", "chorus")))
        ledger.beat()
        self.heartbeat = HeartbeatThread(
            ledger,
            interval_s=self.settings.heartbeat_interval_s,
            ttl_s=self.settings.heartbeat_ttl_s,
        )
        self.heartbeat.start()
        consumed = getattr(getattr(sender, "app", None), "amqp", None)
        queues = set(getattr(getattr(consumed, "queues", None), "consume_from", None) or ())
        if self._make_background is not None and names.ORCHESTRATOR_QUEUE in queues:
            self.background = self._make_background()
            self.background.start()

    def enter_task(self, task_id: str = "", task: Any = None, kwargs: Any = None, **_: Any) -> None:
        name = getattr(task, "name", "?")
        logs.enter_task(logs.task_context(name, task_id, kwargs or {}))

    def leave_task(self, **_: Any) -> None:
        logs.leave_task()

    def bound_warm_shutdown(self, how: str = "", **_: Any) -> None:
        # SIGTERM is Celery's warm shutdown: stop taking work, let in-flight calls finish, exit
        # as soon as they have. Unbounded, one slow model call would outlast the supervisor's
        # SIGKILL and strand its message until the visibility timeout. So after the grace period
        # this process hands every message it holds back to its queue and exits; subtasks are
        # idempotent, so a call that was nearly done costs a repeat, never a second result.
        # (Celery's worker_soft_shutdown_timeout sleeps its whole timeout even when the calls
        # end sooner, and its cold shutdown cannot stop a thread mid-call.)
        if how != "Warm":
            return
        grace = self.settings.shutdown_grace_s

        def hand_back_and_exit() -> None:
            moved = self.ledger.hand_back_own() if self.ledger is not None else 0
            log.warning("still busy %.0fs after SIGTERM: handed back %d message(s)", grace, moved)
            logging.shutdown()
            os._exit(1)

        timer = threading.Timer(grace, hand_back_and_exit)
        timer.daemon = True
        timer.start()

    def retire(self, **_: Any) -> None:
        if self.background is not None:
            self.background.stop()
        if self.heartbeat is not None:
            self.heartbeat.stop()
        if self.ledger is not None:
            # Everything run here is acknowledged by now; what is left was reserved and never
            # started (or waits for a retry countdown): back on its queue for other workers.
            moved = self.ledger.hand_back_own()
            if moved:
                log.info("handed back %d reserved message(s) at shutdown", moved)
            self.ledger.retire()


def install(
    app: ChorusCelery, *, orchestrator_background: Callable[[], Background] | None = None
) -> ProcessLifecycle:
    """Connect the process hooks for `app` (once per process: Celery's signals are global).
    A process that consumes the orchestrator queue also runs `orchestrator_background()`."""
    hooks = ProcessLifecycle(app, orchestrator_background)
    for signal, handler in (
        (signals.worker_init, hooks.adjust_broker),
        (signals.setup_logging, hooks.configure_logging),
        (signals.celeryd_after_setup, hooks.name_process),
        (signals.worker_ready, hooks.start),
        (signals.task_prerun, hooks.enter_task),
        (signals.task_postrun, hooks.leave_task),
        (signals.worker_shutting_down, hooks.bound_warm_shutdown),
        (signals.worker_shutdown, hooks.retire),
    ):
        # weak=False: the bound methods would otherwise be dropped with this frame.
        signal.connect(handler, weak=False, dispatch_uid=f"chorus-{handler.__name__}")
    return hooks
