"""Secrets stay secret: the API key, the API token and the Redis password never show up
anywhere Chorus writes or answers: process logs, Redis, job records, HTTP answers, Flower."""

from __future__ import annotations

import base64
import os
import secrets
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from chorus.contract.models import JobRecord, JobStatus
from chorus.devstack.stack import LocalStack, ManagedProcess, free_port, start_redis
from tests.support.api_server import start_api
from tests.support.waiting import wait_until


def start_keyed_simulator(workdir: Path, api_key: str) -> tuple[ManagedProcess, str]:
    """The simulator demanding an API key: a job succeeds only if the real-API code path sent
    exactly this key."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "chorus.devstack.simulator",
        "--port",
        str(port),
        "--api-key",
        api_key,
    ]
    proc = ManagedProcess(
        "simulator",
        argv,
        env={k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")},
        log_path=workdir / f"simulator-{port}.log",
    )
    try:
        wait_until(
            lambda: proc.alive() and "listening on" in proc.log_text(),
            timeout_s=30,
            what="the simulator",
        )
    except BaseException:
        proc.stop()
        raise
    return proc, f"http://127.0.0.1:{port}"


def redis_dump(url: str) -> dict[str, bytes]:
    """Every key of every database, its name and its value, read according to its type."""
    dumps: dict[str, bytes] = {}
    first = redis.Redis.from_url(url)
    try:
        databases = [int(name.removeprefix("db")) for name in first.info("keyspace")]
    finally:
        first.close()
    for db in databases:
        # The URL's path names the database and beats a `db=` argument: replace the path.
        client = redis.Redis.from_url(url.rsplit("/", 1)[0] + f"/{db}")
        try:
            for key in client.scan_iter(count=1000):
                raw_kind = client.type(key)
                kind = raw_kind.decode() if isinstance(raw_kind, bytes) else str(raw_kind)
                value: Any
                if kind == "string":
                    value = client.get(key)
                elif kind == "hash":
                    value = client.hgetall(key)
                elif kind == "list":
                    value = client.lrange(key, 0, -1)
                elif kind == "set":
                    value = client.smembers(key)
                elif kind == "zset":
                    value = client.zrange(key, 0, -1, withscores=True)
                elif kind == "stream":
                    value = client.xrange(key)
                else:
                    value = client.dump(key)
                dumps[f"redis db{db} {kind} {key.decode(errors='replace')}"] = key + repr(
                    value
                ).encode(errors="backslashreplace")
        finally:
            client.close()
    return dumps


def forms(secret: str) -> list[bytes]:
    """The secret as it could be written: whole, its random tail alone, base64."""
    tail = secret.rsplit("-", 1)[1]
    return [secret.encode(), tail.encode(), base64.b64encode(secret.encode())]


def answer(response: httpx.Response) -> bytes:
    head = "".join(f"{k}: {v}\n" for k, v in response.headers.items())
    return f"{response.status_code}\n{head}\n".encode() + response.content


@pytest.fixture
def secret_workdir(workdir: Path) -> Iterator[Path]:
    yield Path(tempfile.mkdtemp(prefix="secrets-", dir=workdir))


@pytest.mark.fault
def test_no_secret_appears_in_logs_redis_records_answers_or_flower(
    secret_workdir: Path, stack_env: dict[str, str]
) -> None:
    root = secret_workdir
    api_key = "sk-ant-api03-chorusleakcheck-" + secrets.token_hex(16)
    api_token = "tok-chorusleakcheck-" + secrets.token_hex(16)
    redis_password = "pw-chorusleakcheck-" + secrets.token_hex(16)
    wanted = {
        "ANTHROPIC_API_KEY": api_key,
        "API token": api_token,
        "Redis password": redis_password,
    }
    flower_auth = "ops:flower-" + secrets.token_hex(8)
    places: dict[str, bytes] = {}
    started: list[ManagedProcess] = []
    stack: LocalStack | None = None
    try:
        proc, redis_url = start_redis(root, password=redis_password)
        started.append(proc)
        proc, simulator_url = start_keyed_simulator(root, api_key)
        started.append(proc)
        stack = LocalStack(
            redis_url=redis_url,
            use_simulator=False,
            workers=1,
            worker_concurrency=8,
            orchestrator_concurrency=4,
            extra_env={
                **stack_env,
                "ANTHROPIC_API_KEY": api_key,
                "ANTHROPIC_BASE_URL": simulator_url,
                "CHORUS_API_TOKENS": f"alice:{api_token}",
            },
            workdir=root / "stack",
        )
        (root / "stack").mkdir()
        stack.start()
        flower_port = free_port()
        flower = ManagedProcess(
            "flower",
            [sys.executable, "-m", "chorus.cli", "flower", "--port", str(flower_port)],
            env={**stack.env, "FLOWER_BASIC_AUTH": flower_auth},
            log_path=root / "flower.log",
        )
        started.append(flower)
        proc, api = start_api(stack.env, root / "api.log")
        started.append(proc)
        flower_url = f"http://127.0.0.1:{flower_port}"

        def flower_up() -> bool:
            assert flower.alive(), flower.log_text()
            try:
                return httpx.get(flower_url + "/healthcheck", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(flower_up, timeout_s=60, what="Flower")
        flower_auth_header = {
            "authorization": "Basic " + base64.b64encode(flower_auth.encode()).decode()
        }

        def flower_hears_events() -> bool:
            # Its event-fed worker list: a heartbeat heard means every later task event is too.
            got = httpx.get(flower_url + "/api/workers?status=1", headers=flower_auth_header)
            return got.status_code == 200 and any(got.json().values())

        wait_until(flower_hears_events, timeout_s=30, what="Flower hearing events")

        # A job through the API, on the real-API code path: the simulator checks the key.
        auth = {"authorization": f"Bearer {api_token}"}
        with httpx.Client(base_url=api, timeout=30) as client:
            accepted = client.post(
                "/v1/jobs",
                json={"task": "Explain {x}", "options": {"max_subtasks": 2}},
                headers=auth,
            )
            assert accepted.status_code == 202, accepted.text
            location = accepted.headers["location"]
            got: httpx.Response = accepted
            record: JobRecord | None = None

            def job_final() -> bool:
                nonlocal got, record
                got = client.get(location, headers=auth)
                record = JobRecord.model_validate(got.json())
                return record.status.is_final

            wait_until(job_final, timeout_s=60, every_s=0.1, what="the job to end")
            assert record is not None
            assert record.status is JobStatus.SUCCEEDED, record.error
            assert not record.simulated  # the key was used: the real-API path, not the offline one
            places["job record (API)"] = answer(got)
            places["job events (API)"] = answer(client.get(location + "/events", headers=auth))
            places["job list (API)"] = answer(client.get("/v1/jobs", headers=auth))

            # Answers to callers who get it wrong must not hand anything back either.
            calls: dict[str, httpx.Response] = {
                "401 no token": client.get("/v1/jobs"),
                "401 token plus a character": client.get(
                    "/v1/jobs", headers={"authorization": f"Bearer {api_token}x"}
                ),
                "401 token in the wrong scheme": client.get(
                    "/v1/jobs", headers={"authorization": f"Basic {api_token}"}
                ),
                "422 secrets in a bad body": client.post(
                    "/v1/jobs",
                    json={
                        "task": " ",
                        "job_id": f"{api_token}/{redis_password}",
                        "context": [api_key],
                    },
                    headers=auth,
                ),
                "404 unknown job": client.get("/v1/jobs/no-such-job", headers=auth),
                "413 oversized": client.post(
                    "/v1/jobs",
                    content=b"x" * 600_000,
                    headers={**auth, "content-type": "application/json"},
                ),
                "readyz": client.get("/readyz"),
                "healthz": client.get("/healthz"),
                "openapi": client.get("/openapi.json"),
                "metrics": client.get("/metrics", headers=auth),
            }
            assert calls["401 token plus a character"].status_code == 401
            assert calls["422 secrets in a bad body"].status_code == 422
            assert calls["readyz"].json()["ready"] is True
            places |= {f"API answer: {name}": answer(r) for name, r in calls.items()}

        # Flower: the task list and the workers' stats and configuration (fetched live).
        with httpx.Client(base_url=flower_url, timeout=30, headers=flower_auth_header) as client:
            job_id = record.job_id
            tasks = client.get("/api/tasks")

            def flower_saw_the_job() -> bool:
                nonlocal tasks
                tasks = client.get("/api/tasks")
                return job_id in tasks.text

            wait_until(flower_saw_the_job, timeout_s=30, every_s=0.5, what="the job in Flower")
            places["Flower /api/tasks"] = answer(tasks)
            places["Flower /api/workers"] = answer(client.get("/api/workers?refresh=1"))

        places |= redis_dump(redis_url)
        assert any(k.startswith("redis db0 string chorus:job:") for k in places), list(places)

        # The search finds a secret where one is (Redis hands its own password back).
        control = redis.Redis.from_url(redis_url)
        try:
            config = repr(control.config_get("requirepass")).encode()
        finally:
            control.close()
        assert all(form in config for form in forms(redis_password)[:2])
    finally:
        for proc in reversed(started[2:]):  # API and Flower
            proc.stop()
        if stack is not None:
            stack.stop()
        for proc in reversed(started[:2]):  # the simulator, then Redis
            proc.stop()

    # Every log every process wrote, read after they all stopped.
    logs = sorted(path for path in root.rglob("*") if path.is_file())
    assert len(logs) >= 6, logs  # redis, simulator, orchestrator, worker, API, Flower
    places |= {f"file {path.relative_to(root)}": path.read_bytes() for path in logs}

    leaks = [
        f"{name} in {place}"
        for place, content in places.items()
        for name, secret in wanted.items()
        if any(form in content for form in forms(secret))
    ]
    assert not leaks, "\n".join(leaks)
