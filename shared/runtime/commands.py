"""The command lines of Chorus's Celery processes, built in one place for `chorus worker`,
`chorus orchestrator`, `chorus flower` and the local stack alike."""

from __future__ import annotations

import sys

APP_MODULE = "chorus.runtime.main"


def celery_worker_argv(
    queue: str, *, node_name: str, concurrency: int, pool: str = "threads", loglevel: str = "INFO"
) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", APP_MODULE, "worker",
        "-Q", queue, "-n", node_name, "-P", pool, "-c", str(concurrency),
        "--loglevel", loglevel, "--without-gossip", "--without-mingle",
    ]  # fmt: skip


# The tasks page shows each task's job, subtask and type (its kwargs label) and its result
# (a job's final status, for the gather step) without opening the task.
FLOWER_TASKS_COLUMNS = "name,uuid,state,kwargs,result,received,runtime,worker"


def flower_argv(address: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", APP_MODULE, "flower",
        f"--address={address}", f"--port={port}", f"--tasks_columns={FLOWER_TASKS_COLUMNS}",
    ]  # fmt: skip
