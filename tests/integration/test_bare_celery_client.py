"""The public contract: any Celery client, importing no Chorus code, can enqueue a job by name
with JSON arguments and read the record from its documented key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from chorus.devstack.stack import LocalStack
from tests.support.simulator_control import SimulatorControl

CLIENT = textwrap.dedent(
    """
    import json, sys, time
    import redis
    from celery import Celery

    url = sys.argv[1]
    app = Celery(broker=url, backend=url)
    app.conf.task_serializer = "json"
    job = "bare-client-job-1"
    app.send_task(
        "orchestrator.run_job",
        queue="orchestrator",
        task_id=job,
        kwargs={"task": "Explain {x} in Python", "options": {"max_subtasks": 2}},
    )
    store = redis.Redis.from_url(url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        raw = store.get("chorus:job:" + job)
        if raw and json.loads(raw)["status"] in ("succeeded", "partial", "failed"):
            print(raw.decode())
            break
        time.sleep(0.1)  # a poll interval under the deadline above (the script is standalone)
    """
)


def test_a_bare_celery_app_enqueues_by_name_and_reads_the_record(
    chorus_stack: LocalStack, sim: SimulatorControl
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, chorus_stack.redis_url],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        env={**os.environ, "PYTHONPATH": ""},
        cwd="/",  # away from the checkout: the script imports only celery and redis
    )
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["status"] == "succeeded"
    assert record["job_id"] == "bare-client-job-1"
    assert record["request"]["task"] == "Explain {x} in Python"
    assert len(record["results"]) == record["subtasks_total"] >= 1
