"""Waiting for a Celery worker over a Redis broker, without Django: shared by the tests and bench/."""

from __future__ import annotations

import time

import redis


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
