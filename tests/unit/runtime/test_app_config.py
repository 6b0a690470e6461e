"""Configuration decided on purpose: TLS verification, reconnects, bounded waits, metrics
auth, JSON log lines."""

import json
import logging
import ssl

import pydantic
import pytest
from pydantic import SecretStr

from chorus.contract import names
from chorus.core.retry import straggler_wait_s
from chorus.orchestrator_service.api.metrics_route import metrics_allowed
from chorus.runtime import logs
from chorus.runtime.app import celery_config, no_subtask_barriers
from chorus.settings import Settings
from chorus.store.connection import tls_options


def test_rediss_urls_verify_the_certificate_everywhere() -> None:
    settings = Settings(redis_url="rediss://:pw@redis.example:6380/0", redis_tls_ca_file="/ca.pem")
    config = celery_config(settings)
    for key in ("broker_use_ssl", "redis_backend_use_ssl"):
        assert config[key]["ssl_cert_reqs"] == ssl.CERT_REQUIRED
        assert config[key]["ssl_ca_certs"] == "/ca.pem"
    assert tls_options(settings) == {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": "/ca.pem"}


def test_plain_redis_has_no_tls_options() -> None:
    settings = Settings(redis_url="redis://127.0.0.1:6379/0")
    assert "broker_use_ssl" not in celery_config(settings)
    assert tls_options(settings) == {}


def test_json_only_late_acks_and_reconnects_forever() -> None:
    config = celery_config(Settings())
    assert config["accept_content"] == ["json"] and config["task_serializer"] == "json"
    assert config["task_acks_late"] and config["task_reject_on_worker_lost"]
    assert config["broker_connection_max_retries"] is None
    assert config["broker_channel_error_retry"]  # out of memory must not end the worker
    assert config["worker_cancel_long_running_tasks_on_connection_loss"] is False
    assert config["broker_transport_options"]["visibility_timeout"] == 3600


def test_gather_waits_as_long_as_a_subtask_can_still_take() -> None:
    settings = Settings(model_timeout_s=10, max_attempts=3, retry_max_s=5, heartbeat_ttl_s=15)
    # Worker calls stream: each attempt may take the whole stream timeout.
    assert straggler_wait_s(settings) >= settings.stream_timeout_s * 3 + 5 * 2 + 15


def test_metrics_need_their_own_token_once_the_api_has_tenants() -> None:
    local = Settings()
    assert metrics_allowed(local, None)  # loopback-only API: open like the rest of it
    tenants = Settings(api_tokens=SecretStr("a:" + "x" * 16))
    assert not metrics_allowed(tenants, "Bearer " + "x" * 16)
    both = Settings(api_tokens=SecretStr("a:" + "x" * 16), metrics_token=SecretStr("m" * 20))
    assert metrics_allowed(both, "Bearer " + "m" * 20)
    assert not metrics_allowed(both, "Bearer " + "x" * 16)
    assert not metrics_allowed(both, None)


def test_log_lines_are_json_with_the_running_tasks_job_and_subtask() -> None:
    record = logging.LogRecord("chorus.test", logging.INFO, __file__, 1, "hello %s", ("x",), None)
    context = logs.task_context(
        "worker.run_subtask", "t-1", {"job_id": "j-1", "subtask": {"index": 2}}
    )
    logs.enter_task(context)
    try:
        logs.ContextFilter().filter(record)
    finally:
        logs.leave_task()
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["message"] == "hello x" and line["level"] == "INFO"
    assert line["job_id"] == "j-1" and line["subtask"] == 2 and line["task_id"] == "t-1"


def test_a_heartbeat_ttl_shorter_than_two_beats_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="at least twice"):
        Settings(heartbeat_interval_s=3, heartbeat_ttl_s=4)


@pytest.mark.parametrize(("level", "received_shown"), [("INFO", False), ("DEBUG", True)])
def test_celerys_received_line_is_kept_for_debug_only(level: str, received_shown: bool) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        logs.configure_logging("worker", "json", level)
        received = logging.getLogger(logs.RECEIVED_LOGGER)
        assert received.isEnabledFor(logging.INFO) is received_shown
        # The lines that say how a task ended stay at INFO.
        assert logging.getLogger("celery.app.trace").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger(logs.RECEIVED_LOGGER).setLevel(logging.NOTSET)


class _Result:
    def __init__(self, task_id: str) -> None:
        self.id = task_id


def test_a_group_barrier_on_a_chord_subtask_subscribes_to_nothing() -> None:
    watched: list[tuple[str, bool]] = []

    def add_pending_result(
        result: _Result, weak: bool = False, start_drainer: bool = True
    ) -> _Result:
        watched.append((result.id, weak))
        return result

    add = no_subtask_barriers(add_pending_result)
    subtask = _Result(f"abc{names.CHORD_SUBTASK_ID_SUFFIX}")
    assert add(subtask, weak=True) is subtask and watched == []
    add(subtask)  # somebody really waits on it: watched as before
    add(_Result("another-task"), weak=True)  # any other group's barrier: watched
    assert watched == [(subtask.id, False), ("another-task", True)]


def test_every_redis_pool_holds_a_connection_for_every_thread() -> None:
    config = celery_config(Settings(worker_concurrency=1000))
    assert config["broker_transport_options"]["max_connections"] >= 1000
    assert config["redis_max_connections"] >= 1000
