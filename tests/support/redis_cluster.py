"""A Redis Cluster of the test's own: three masters on free ports, no replicas, that the test
can freeze, kill and restart whole, or one shard at a time.

It offers what `RedisServer` offers, so a test written for one Redis runs against it unchanged.
Killed nodes keep their `nodes.conf`: started again, they rejoin with the slots they had (and
no data, as a restarted single Redis has none).
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer

BUS_OFFSET = 10_000
"""A cluster node also listens on its port + 10,000 (the cluster bus)."""

NODE_TIMEOUT_MS = 1000
"""How long the others wait before they call a silent master failed (and the cluster down)."""


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def node_port() -> int:
    """A free port whose bus port is free too (an ephemeral port + 10,000 can pass 65,535)."""
    for _ in range(1000):
        port = random.randrange(20_000, 55_000)
        if _free(port) and _free(port + BUS_OFFSET):
            return port
    raise RuntimeError("no free pair of ports for a Redis Cluster node")


def command(port: int, *words: str) -> bytes:
    """One command to one node, its raw reply (enough for the short answers needed here)."""
    request = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(request.encode())
        return s.recv(65536)


class RedisClusterServer:
    def __init__(self, directory: Path, masters: int = 3) -> None:
        self.nodes = []
        for index in range(masters):
            node_dir = directory / f"node-{index}"
            node_dir.mkdir(parents=True, exist_ok=True)
            self.nodes.append(
                RedisServer(
                    node_dir,
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    str(node_dir / "nodes.conf"),
                    "--cluster-node-timeout",
                    str(NODE_TIMEOUT_MS),
                    port=node_port(),
                )
            )
        self._created = False

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        if not self._created:
            binary = shutil.which("redis-cli")
            if binary is None:
                raise RuntimeError("redis-cli is not installed (apt-get install redis-tools)")
            addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
            create = ["--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"]
            subprocess.run(
                [binary, *create],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=30,
            )
            self._created = True
        self.wait_until_ok()

    def wait_until_ok(self) -> None:
        """Every node sees every slot served (after a start, or a shard's return)."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                states = [command(node.port, "CLUSTER", "INFO") for node in self.nodes]
            except OSError:
                states = []
            if states and all(b"cluster_state:ok" in state for state in states):
                return
            time.sleep(0.05)
        raise RuntimeError("the Redis Cluster did not come up")

    def kill_shard(self, index: int) -> None:
        self.nodes[index].kill()

    def start_shard(self, index: int) -> None:
        self.nodes[index].start()
        self.wait_until_ok()

    def freeze(self) -> None:
        for node in self.nodes:
            node.freeze()

    def thaw(self) -> None:
        for node in self.nodes:
            node.thaw()

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()

    def restart(self) -> None:
        self.kill()
        self.start()

    def flushall(self) -> None:
        for node in self.nodes:
            node.flushall()


AnyRedis = RedisServer | RedisClusterServer


def ports(server: AnyRedis) -> list[int]:
    """Every node's port: the server's own, or each master's."""
    if isinstance(server, RedisClusterServer):
        return [node.port for node in server.nodes]
    return [server.port]


@pytest.fixture(name="redis_server", params=["redis", "redis-cluster"])
def redis_or_cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AnyRedis]:
    """Imported by a test module, runs its tests against one redis-server, then against a
    three-master Redis Cluster (`REDIS_URL=redis+cluster://…`)."""
    server: AnyRedis = (
        RedisServer(tmp_path) if request.param == "redis" else RedisClusterServer(tmp_path)
    )
    server.start()
    try:
        yield server
    finally:
        server.kill()
