"""Helpers for the processes tests and bench/ start, without Django: a free port, and waiting for a
Celery worker to drain its Redis broker."""

from __future__ import annotations

import socket
import time

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_broker_idle(queue: redis.Redis, timeout: float = 20.0, quiet: float = 0.5) -> None:
    """Wait until no task is queued or in flight (tasks are acked late, so in flight means unacked).

    Kombu moves a message to its `unacked` hash a moment after popping it, so idleness must hold for
    `quiet` seconds of consecutive looks before it counts.
    """
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        busy = queue.llen("celery") or queue.hlen("unacked")
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet:
            return
        time.sleep(0.05)
    raise AssertionError("the Celery worker did not drain the broker in time")
