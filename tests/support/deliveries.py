"""Read the delivery bookkeeping of a test's Redis and processes: which messages kombu holds as
unacknowledged (and with what countdown), which process's ledger names them, what a process
logged and which calls the simulator saw. Read-only: the tests decide what to assert."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from chorus.contract import names
from chorus.devstack.stack import ManagedProcess
from chorus.runtime.redelivery import KOMBU_UNACKED
from tests.support.simulator_control import SimulatorControl

# Only a worker's prompt has this element; the planning prompt has none.
SUBTASK_MARKER = "<subtask>"
# Heartbeats every second, dead after 4: a test waits seconds, not the default 15.
FAST_HEARTBEAT = {"CHORUS_HEARTBEAT_INTERVAL_S": "1", "CHORUS_HEARTBEAT_TTL_S": "4"}


@dataclass(frozen=True)
class Held:
    """One delivered, unacknowledged message in kombu's `unacked` hash."""

    tag: str
    task_id: str
    retries: int
    eta: datetime | None
    job_id: str | None

    def waits_at_least(self, seconds: float) -> bool:
        return self.eta is not None and (self.eta - datetime.now(UTC)).total_seconds() >= seconds


def node_of(worker: str | None) -> str:
    """`worker2` for a result recorded by `worker2@host`."""
    return str(worker).split("@")[0]


def redis_at(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True)


def held(client: redis.Redis) -> list[Held]:
    found = []
    for tag, raw in client.hgetall(KOMBU_UNACKED).items():
        headers = json.loads(raw)[0]["headers"]
        eta = headers.get("eta")
        found.append(
            Held(
                tag=str(tag),
                task_id=str(headers["id"]),
                retries=int(headers.get("retries") or 0),
                eta=datetime.fromisoformat(eta) if eta else None,
                job_id=headers.get(names.JOB_HEADER),
            )
        )
    return found


def ledger_of(client: redis.Redis, node: str) -> str:
    """The ledger instance of the live process whose node name is `node@…`."""
    mine = [str(i) for i in client.smembers(names.LEDGERS_KEY) if str(i).startswith(f"{node}@")]
    assert len(mine) == 1, f"ledgers of {node}: {mine}"
    return mine[0]


def ledger_tags(client: redis.Redis, instance: str) -> set[str]:
    return {str(tag) for tag in client.hkeys(names.ledger_key(instance))}


def log_messages(*procs: ManagedProcess) -> list[str]:
    """The `message` of every JSON log line of these processes."""
    return [
        str(json.loads(line).get("message", ""))
        for proc in procs
        for line in proc.log_text().splitlines()
        if line.startswith("{")
    ]


def call_times(sim: SimulatorControl, marker: str) -> list[float]:
    """When (the simulator's clock, oldest first) each request whose text holds `marker`
    arrived. Entries name their own start when the simulator records it; otherwise the
    stats' arrival times line up with the request log one for one."""
    seen = sim.requests()
    if all("started_at" in entry for entry in seen):
        return [float(e["started_at"]) for e in seen if marker in str(e["text"])]
    times = sim.stats()["request_times"]
    assert len(times) == len(seen), "request log and arrival times out of step"
    return [float(t) for t, e in zip(times, seen, strict=True) if marker in str(e["text"])]


def subtask_marker(subtask_type: str) -> str:
    """Text only the prompt of the subtask of this type holds."""
    return f"<type>{json.dumps(subtask_type)}</type>"
