"""A local Redis Cluster: six redis-server processes on loopback (ports 7100-7199), three masters and a
replica of each, made by `redis-cli --cluster create`. No persistence; each node keeps its cluster state
in a private directory, so a killed node started again rejoins (as a replica of whoever took over).
Used by test_redis_cluster.py; everything started is stopped when the ExitStack closes, whatever failed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from contextlib import ExitStack
from pathlib import Path

import redis

from tests.stack import wait_for

NODES = 6
PORT_RANGE = range(7100, 7200)  # this machine's share for cluster nodes; each also uses port + 10000 (the bus)
NODE_TIMEOUT_MS = 1000  # a master unreachable this long is failed over (Redis' default is 15 s)


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports() -> list[int]:
    """Six consecutive ports of PORT_RANGE whose bus ports are free too."""
    for base in range(PORT_RANGE.start, PORT_RANGE.stop - NODES + 1, NODES):
        ports = list(range(base, base + NODES))
        if all(_free(port) and _free(port + 10000) for port in ports):
            return ports
    raise RuntimeError(f"no {NODES} free ports in {PORT_RANGE}")


class LocalCluster:
    def __init__(self, tmp: Path, exits: ExitStack):
        self.tmp = tmp
        self.exits = exits
        self.ports = free_ports()
        self.procs: dict[int, subprocess.Popen] = {}
        exits.callback(self._stop_all)
        for port in self.ports:
            self.start(port)
        wait_for(lambda: all(self._answers(port) for port in self.ports), 20, "redis-server", interval=0.05)
        created = subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert created.returncode == 0, created.stdout + created.stderr
        self.wait_healthy()

    def start(self, port: int) -> None:
        """Start (or start again) the node on this port, with the cluster state it had."""
        directory = self.tmp / str(port)
        directory.mkdir(exist_ok=True)
        log = open(directory / "redis.log", "ab")
        self.exits.callback(log.close)
        self.procs[port] = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(directory),
                "--save",
                "",
                "--appendonly",
                "no",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                str(NODE_TIMEOUT_MS),
                "--cluster-require-full-coverage",
                "no",  # as docs/deployment.md advises: the other masters serve on while one fails over
                "--repl-diskless-sync-delay",
                "0",  # a replica syncs at once, not after 5 s
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=2, socket_connect_timeout=1, decode_responses=True)

    def _answers(self, port: int) -> bool:
        try:
            return bool(self.client(port).ping())
        except redis.ConnectionError:
            return False

    def running(self) -> list[int]:
        return [port for port, proc in self.procs.items() if proc.poll() is None]

    def roles(self) -> dict[int, str]:
        """Each running node's port and its role, as it says itself."""
        return {port: self.client(port).role()[0] for port in self.running()}  # type: ignore[index]  # a list

    def masters(self) -> list[int]:
        return sorted(port for port, role in self.roles().items() if role == "master")

    def replica_of(self, master: int) -> int:
        info = self.client(master).info("replication")
        return int(info["slave0"]["port"])  # type: ignore[index]  # a dict

    def cluster_state(self, port: int) -> str:
        info = self.client(port).execute_command("CLUSTER", "INFO")
        return dict(line.split(":", 1) for line in info.splitlines() if ":" in line)["cluster_state"]

    def healthy(self, replicas: bool = True) -> bool:
        """Every running node sees the cluster ok and there are three masters, and (`replicas`) each has a
        replica in sync."""
        try:
            if any(self.cluster_state(port) != "ok" for port in self.running()):
                return False
            masters = self.masters()
            if len(masters) != 3:
                return False
            if not replicas:
                return True
            for master in masters:
                if self.client(master).info("replication")["connected_slaves"] < 1:  # type: ignore[index]  # a dict
                    return False
            synced = [port for port, role in self.roles().items() if role == "slave"]
            return all(self.client(port).info("replication")["master_link_status"] == "up" for port in synced)  # type: ignore[index]
        except (redis.ConnectionError, redis.ResponseError):
            return False

    def wait_healthy(self, timeout: float = 30, replicas: bool = True) -> None:
        try:
            wait_for(lambda: self.healthy(replicas), timeout, "cluster_state:ok with three masters", interval=0.1)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.logs()}") from None

    def kill(self, port: int) -> None:
        proc = self.procs[port]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.parent.name}\n{path.read_text(errors='replace')[-1500:]}"
            for path in sorted(self.tmp.glob("*/redis.log"))
        )

    def _stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
