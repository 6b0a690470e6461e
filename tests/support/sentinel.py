"""A real Redis Sentinel deployment on loopback for fault tests: a master, one replica and
three sentinels, each redis-server on its own free port with its own files in a private
directory (a sentinel rewrites its config file, so each gets a writable one)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import redis

from chorus.devstack.processes import ManagedProcess, free_port, redis_server_binary, wait_until

MASTER_NAME = "mymaster"
DATA_PASSWORD = "data-secret"
SENTINEL_PASSWORD = "sentinel-secret"
# Fast failure detection keeps the test short; quorum 2 of 3 sentinels.
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000


class SentinelCluster:
    def __init__(self, workdir: Path, sentinels: int = 3) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.processes: list[ManagedProcess] = []
        self.master_port = free_port()
        self.replica_port = free_port()
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self._sentinel_count = sentinels

    @property
    def url(self) -> str:
        """REDIS_URL for Chorus: every sentinel, the data nodes' password in the first part."""
        parts = [f"sentinel://127.0.0.1:{port}" for port in self.sentinel_ports]
        parts[0] = f"sentinel://:{DATA_PASSWORD}@127.0.0.1:{self.sentinel_ports[0]}/0"
        return ";".join(parts)

    def start(self) -> SentinelCluster:
        try:
            self.master = self._data_node("master", self.master_port)
            self.replica = self._data_node(
                "replica", self.replica_port, "--replicaof", "127.0.0.1", str(self.master_port)
            )
            wait_until(self._replica_in_sync, timeout_s=15, what="the replica to sync")
            for port in self.sentinel_ports:
                self._sentinel(port)
            wait_until(self._sentinels_agree, timeout_s=20, what="the sentinels to meet")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.stop()
        self.processes.clear()

    def master_address(self) -> tuple[str, int]:
        """Where the sentinels say the master is now."""
        for port in self.sentinel_ports:
            client = self._ask(port)
            try:
                address: Any = client.sentinel_get_master_addr_by_name(MASTER_NAME)
                return str(address[0]), int(address[1])
            except redis.ConnectionError:
                continue
            finally:
                client.close()
        raise AssertionError("no sentinel answered")

    def _data_node(self, name: str, port: int, *extra: str) -> ManagedProcess:
        data_dir = self.workdir / f"{name}-{port}"
        data_dir.mkdir()
        argv = [
            redis_server_binary(),
            "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
            "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
            "--maxmemory-policy", "noeviction",
            "--requirepass", DATA_PASSWORD, "--masterauth", DATA_PASSWORD,
            *extra,
        ]  # fmt: skip
        return self._start(name, argv, port, password=DATA_PASSWORD)

    def _sentinel(self, port: int) -> ManagedProcess:
        conf = self.workdir / f"sentinel-{port}.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self.workdir}\n"
            f"requirepass {SENTINEL_PASSWORD}\nsentinel sentinel-pass {SENTINEL_PASSWORD}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master_port} 2\n"
            f"sentinel auth-pass {MASTER_NAME} {DATA_PASSWORD}\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        argv = [redis_server_binary(), str(conf), "--sentinel"]
        return self._start(f"sentinel-{port}", argv, port, password=SENTINEL_PASSWORD)

    def _start(self, name: str, argv: list[str], port: int, *, password: str) -> ManagedProcess:
        log_path = self.workdir / f"{name}.log"
        proc = ManagedProcess(name, argv, env=dict(os.environ), log_path=log_path)
        self.processes.append(proc)
        client = redis.Redis(port=port, password=password, socket_connect_timeout=0.5)

        def ready() -> bool:
            assert proc.alive(), proc.log_text()[-1000:]
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        try:
            wait_until(ready, timeout_s=15, what=name)
        finally:
            client.close()
        return proc

    def _ask(self, sentinel_port: int) -> redis.Redis:
        return redis.Redis(
            port=sentinel_port, password=SENTINEL_PASSWORD, socket_timeout=1, decode_responses=True
        )

    def _replica_in_sync(self) -> bool:
        replica = redis.Redis(port=self.replica_port, password=DATA_PASSWORD)
        info = replica.info("replication")
        replica.close()
        return info.get("master_link_status") == "up"

    def _sentinels_agree(self) -> bool:
        """Every sentinel knows the replica and the other sentinels: a failover can then be
        agreed on (quorum) and led (a majority of the three)."""
        for port in self.sentinel_ports:
            client = self._ask(port)
            try:
                state: Any = client.sentinel_master(MASTER_NAME)
            finally:
                client.close()
            others = int(state.get("num-other-sentinels", 0))
            if others < self._sentinel_count - 1 or int(state.get("num-slaves", 0)) < 1:
                return False
        return True
