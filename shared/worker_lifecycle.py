"""What every Chorus Celery process (orchestrator or worker) does at start, around each task
and at shutdown: JSON logs with the task's job, the delivery ledger and heartbeat that let a
dead process's messages be handed back in seconds, and a bounded SIGTERM."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from celery.signals import (
    celeryd_after_setup,
    setup_logging,
    task_postrun,
    task_prerun,
    task_received,
    worker_init,
    worker_ready,
    worker_shutdown,
    worker_shutting_down,
)

from shared import broker_compat, log_format
from shared.celery_app import app
from shared.job_store import redis_client
from shared.redelivery import DeliveryLedger, HeartbeatThread

log = logging.getLogger(__name__)

_state: dict[str, Any] = {}


def _ledger() -> DeliveryLedger | None:
    ledger = _state.get("ledger")
    return ledger if isinstance(ledger, DeliveryLedger) else None


@worker_init.connect  # type: ignore[untyped-decorator]
def _adjust_broker(**_: Any) -> None:
    broker_compat.install(lambda: redis_client(app.settings))


@setup_logging.connect  # type: ignore[untyped-decorator]
def _configure_logging(loglevel: Any = "INFO", **_: Any) -> None:
    # Connected, so Celery installs no handlers of its own: every line goes out in our format.
    log_format.configure_logging("celery", app.settings.log_format, loglevel or "INFO")


@celeryd_after_setup.connect  # type: ignore[untyped-decorator]
def _name_process(sender: Any = None, **_: Any) -> None:
    log_format.set_node(str(sender))


@worker_ready.connect  # type: ignore[untyped-decorator]
def _start(sender: Any = None, **_: Any) -> None:
    # Say plainly, once per process, whether outputs come from a real model or the simulator.
    log.info("model endpoint: %s", app.settings.describe_model_endpoint())
    settings = app.settings
    ledger = DeliveryLedger(
        redis_client(settings),
        str(getattr(sender, "hostname", "chorus")),
        heartbeat_ttl_s=settings.heartbeat_ttl_s,
    )
    ledger.beat()
    heartbeat = HeartbeatThread(ledger, interval_s=settings.heartbeat_interval_s)
    heartbeat.start()
    _state.update(ledger=ledger, heartbeat=heartbeat)


@task_received.connect  # type: ignore[untyped-decorator]
def _received(request: Any = None, **_: Any) -> None:
    ledger = _ledger()
    message = getattr(request, "message", None)
    if ledger is not None and message is not None and message.delivery_tag:
        retries = int(request.request_dict.get("retries") or 0)
        ledger.received(request.id, retries, str(message.delivery_tag))


@task_prerun.connect  # type: ignore[untyped-decorator]
def _enter_task(task_id: str = "", task: Any = None, kwargs: Any = None, **_: Any) -> None:
    name = getattr(task, "name", "?")
    log_format.enter_task(log_format.task_context(name, task_id, kwargs or {}))


@task_postrun.connect  # type: ignore[untyped-decorator]
def _leave_task(task_id: str = "", task: Any = None, **_: Any) -> None:
    log_format.leave_task()
    ledger = _ledger()
    if ledger is not None:
        ledger.finished(task_id, int(getattr(task.request, "retries", 0) or 0))


@worker_shutting_down.connect  # type: ignore[untyped-decorator]
def _bound_warm_shutdown(how: str = "", **_: Any) -> None:
    # SIGTERM is Celery's warm shutdown: stop taking work, let in-flight calls finish, exit as
    # soon as they have. Unbounded, one slow model call would outlast the supervisor's SIGKILL
    # and strand its message until the visibility timeout. So after the grace period this
    # process hands every message it holds back to its queue and exits; subtasks are
    # idempotent, so a call that was nearly done costs a repeat, never a second result.
    # (Celery's worker_soft_shutdown_timeout sleeps its whole timeout even when the calls end
    # sooner, and its cold shutdown cannot stop a thread mid-call.)
    if how != "Warm":
        return
    grace = app.settings.shutdown_grace_s

    def hand_back_and_exit() -> None:
        ledger = _ledger()
        moved = ledger.hand_back_own() if ledger is not None else 0
        log.warning("still busy %.0fs after SIGTERM: handed back %d message(s)", grace, moved)
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(grace, hand_back_and_exit)
    timer.daemon = True
    timer.start()


@worker_shutdown.connect  # type: ignore[untyped-decorator]
def _retire(**_: Any) -> None:
    heartbeat, ledger = _state.get("heartbeat"), _ledger()
    if isinstance(heartbeat, HeartbeatThread):
        heartbeat.stop()
    if ledger is not None:
        # Everything run here is acknowledged by now; what is left was reserved and never
        # started (or waits for a retry countdown): back on its queue for the other workers.
        moved = ledger.hand_back_own()
        if moved:
            log.info("handed back %d reserved message(s) at shutdown", moved)
        ledger.retire()
