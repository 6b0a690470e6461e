"""Proofs for docs/reliability.md's claims about what Redis keeps and what listens, with real
processes: every key a job leaves expires (the job's keys after `CHORUS_JOB_TTL_S`, Celery's
results and chord counters after `result_expires`), and Flower refuses an address beyond
loopback without basic auth and asks for the password when it has it. Each was checked by
breaking the production code (see the report of issue #14)."""

from __future__ import annotations

import base64
import socket
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

import redis

from chorus.contract import limits, names
from chorus.contract.models import JobStatus
from chorus.devstack.stack import LocalStack, ManagedProcess, free_port, port_in_use, wait_until
from tests.support.runner import runner_for

JOB_TTL_S = 3600  # not the 7-day default, so the test sees the setting honoured
DELTA_LINGER_S = 120  # not the 30 s default either
# Fleet-wide keys, not any one job's: bounded by trimming or by their processes, not a TTL.
UNEXPIRING = ("_kombu.", "chorus:jobs", "chorus:ledger", "chorus:metrics", "chorus:tenant:")
QUEUES = {names.ORCHESTRATOR_QUEUE, names.SUBTASKS_QUEUE, "unacked", "unacked_index"}
AUTH = "ops:claims-flower-password"


def _ttls(client: redis.Redis, pattern: str) -> dict[str, int]:
    return {str(key): int(client.ttl(key)) for key in client.scan_iter(match=pattern, count=500)}


def test_every_key_a_job_leaves_expires_as_configured(
    stack_factory: Callable[..., LocalStack],
) -> None:
    env = {"CHORUS_JOB_TTL_S": str(JOB_TTL_S), "CHORUS_DELTA_LINGER_S": str(DELTA_LINGER_S)}
    stack = stack_factory(simulator_latency_ms=1000, extra_env=env)
    runner = runner_for(stack)
    job_id = runner.submit(f"Keys {uuid.uuid4().hex}.", options={"synthesize": True})
    runner.wait_started(job_id, 1)
    client = runner.store._redis

    # Mid-job, the chord's counters exist: they must outlast the job but not stay forever.
    chord = _ttls(client, "celery-taskset-meta-*")
    assert any(key.endswith(".s") for key in chord), chord
    assert all(0 < ttl <= limits.CELERY_RESULT_TTL_S for ttl in chord.values()), chord

    record = runner.wait(job_id, timeout_s=60)
    assert record.status is JobStatus.SUCCEEDED and record.synthesis
    # Celery stores the receipts of run_job and of the gather step. A subtask's receipt is
    # not stored: its result is in the job's results hash, and the chord counts without it.
    stored = {f"celery-task-meta-{job_id}"}
    wait_until(
        lambda: len(_ttls(client, "celery-task-meta-*")) >= len(stored) + 1,
        timeout_s=30,
        what="run_job's and the gather's Celery results",
    )

    job_keys = _ttls(client, f"chorus:job:{job_id}*")
    # The workers' text streams (`subtask_delta`) linger a little after the job, then go.
    lingering = {k: job_keys.pop(k) for k in list(job_keys) if ":deltas:" in k}
    assert lingering and all(0 < t <= DELTA_LINGER_S for t in lingering.values()), lingering
    for suffix in ("", ":events", ":results", ":control"):
        # Set from the setting just now: within a minute of it, never above it.
        assert JOB_TTL_S - 60 < job_keys.pop(names.job_key(job_id) + suffix) <= JOB_TTL_S
    assert set(job_keys) == {
        names.job_planning_claim_key(job_id),
        names.job_dispatched_key(job_id),
        names.job_gather_claim_key(job_id),
    }
    assert all(0 < ttl <= JOB_TTL_S for ttl in job_keys.values()), job_keys
    results = _ttls(client, "celery-task-meta-*")
    assert stored < set(results) and len(results) == 2, results  # run_job's id is the job's
    low = limits.CELERY_RESULT_TTL_S - 60
    assert all(low < ttl <= limits.CELERY_RESULT_TTL_S for ttl in results.values()), results

    # Nothing else in this private Redis lives forever, except fleet-wide bookkeeping.
    forever = [
        key
        for key, ttl in _ttls(client, "*").items()
        if ttl < 0 and not key.startswith(UNEXPIRING) and key not in QUEUES
    ]
    assert forever == []
    assert runner.app.conf.result_expires == limits.CELERY_RESULT_TTL_S == 24 * 3600


def _get(url: str, auth: str | None) -> int:
    request = urllib.request.Request(url)  # noqa: S310 - a local address built here
    if auth is not None:
        request.add_header("authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def _flower(workdir: Path, env: dict[str, str], address: str, port: int) -> ManagedProcess:
    argv = [sys.executable, "-m", "chorus.cli", "flower", "--address", address]
    return ManagedProcess(
        "flower",
        [*argv, "--port", str(port)],
        env=env,
        log_path=workdir / f"claims-flower-{port}.log",
    )


def _exited_or_listening(proc: ManagedProcess, port: int) -> Callable[[], bool]:
    return lambda: not proc.alive() or port_in_use(port)


def _flowerless_env(stack: LocalStack) -> dict[str, str]:
    return {k: v for k, v in stack.env.items() if not k.startswith("FLOWER_")}


def test_flower_refuses_every_interface_without_basic_auth(
    chorus_stack: LocalStack, workdir: Path
) -> None:
    # Blank, a password with no user, a user with no password: none of them is a password.
    everywhere = "0.0.0.0"  # noqa: S104 - the point: refused without a real password
    cases = [(everywhere, None), ("::", None), (everywhere, ""), (everywhere, "  ")]
    cases += [(everywhere, "admin"), (everywhere, "admin:"), (everywhere, ":secret")]
    for address, auth in cases:
        env = _flowerless_env(chorus_stack)
        if auth is not None:
            env["FLOWER_BASIC_AUTH"] = auth
        port = free_port()
        proc = _flower(workdir, env, address, port)
        try:
            wait_until(_exited_or_listening(proc, port), timeout_s=60, what="Flower to answer")
            assert not port_in_use(port), f"Flower listens on {address}:{port} without a password"
            assert proc.process.wait(5) == 2
        finally:
            proc.stop()
        message = f"refusing to serve Flower on {address} without FLOWER_BASIC_AUTH"
        assert message in " ".join(proc.log_text().split()), proc.log_text()


def _outward_address() -> str | None:
    """This machine's address on its default route, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routing only
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_flower_on_every_interface_asks_for_its_password(
    chorus_stack: LocalStack, workdir: Path
) -> None:
    port = free_port()
    env = {**_flowerless_env(chorus_stack), "FLOWER_BASIC_AUTH": AUTH}
    proc = _flower(workdir, env, "0.0.0.0", port)  # noqa: S104 - what is under test
    try:
        local = f"http://127.0.0.1:{port}"

        def up() -> bool:
            assert proc.alive(), proc.log_text()
            try:
                return _get(local + "/healthcheck", auth=None) == 200
            except OSError:
                return False

        wait_until(up, timeout_s=60, what="Flower")
        bases = [local]
        outward = _outward_address()
        if outward is not None:
            bases.append(f"http://{outward}:{port}")
        for base in bases:
            assert _get(base + "/api/workers", auth=None) == 401, base
            assert _get(base + "/api/workers", auth="ops:wrong-password") == 401, base
            assert _get(base + "/", auth=None) == 401, base
            assert _get(base + "/api/workers", auth=AUTH) == 200, base
    finally:
        proc.stop()
