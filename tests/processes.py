"""Helpers for the tests that start processes of their own, and for bench/: a free port, a private
redis-server, a database URL for the processes, pointing Celery at another broker, and waiting for a
Celery worker to drain its Redis broker. bench/ imports this without Django: Django and pytest are
imported only inside the functions that need them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

import redis

# Fixtures (in conftest.py files) that start servers, or that every test starting its own servers requests:
# a test using one, directly or through another fixture, is marked `processes` (tests/conftest.py), so a
# developer can leave the slow ones out locally with `-m "not processes"`. A module that starts servers
# itself says so with `pytestmark`; tests/test_markers.py checks that none is left unmarked.
PROCESS_FIXTURES = frozenset({"redis_server_binary", "own_redis", "redis_cluster"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn_refusal(env: dict, log: Path, cwd: Path, timeout: float = 30) -> tuple[int | None, str]:
    """Start gunicorn on the project where it should refuse to: (its exit status, None if it served and
    was killed; everything it logged)."""
    with open(log, "wb") as output:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "identity.wsgi", "-c", "gunicorn.conf.py"],
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            returncode: int | None = server.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            returncode = None
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGKILL)  # it served
                server.wait()
    return returncode, log.read_text(errors="replace")


def unavailable(reason: str) -> NoReturn:
    """Skip on a developer machine; fail in CI, where a skipped test would pass unnoticed."""
    import pytest

    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this test may not be skipped)", pytrace=False)
    pytest.skip(reason)


def database_url(name: str) -> str:
    """A database on the test database's server, as a URL for the processes a test starts."""
    from django.conf import settings as django_settings

    db = django_settings.DATABASES["default"]
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


class RedisProcess:
    """A real redis-server on a free port, which a test can stop and start again."""

    def __init__(self):
        self.port = free_port()
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def point_celery_at(url: str) -> None:
    """Send Celery's next publish to another broker (forgetting pooled connections to the old one).

    Celery prefers the CELERY_BROKER_URL environment variable (set by tests/settings.py) to its
    configuration, so that is switched too.
    """
    from identity.celery import app

    os.environ["CELERY_BROKER_URL"] = url
    app.conf.broker_url = url  # type: ignore[misc]  # a property in celery-types, settable in Celery
    app._pool = None  # type: ignore[attr-defined]  # Celery's private connection pool
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


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
