"""Fixtures for every test folder. Helpers are plain modules beside this one (users.py, processes.py,
smtp.py, concurrency.py, timing.py) and in each folder (mfa/pages.py, oidc/relying_party.py, ...)."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable

import pytest
from django.test import Client

from accounts.models import OutboxMail, User

# manage.py run by a test reads no developer's .env (scripts/dev-env): only what the test gives it.
os.environ["IDENTITY_ENV_FILE"] = ""
from accounts.tasks import send_outbox_mail
from identity.redis import connection
from tests.processes import PROCESS_FIXTURES, RedisProcess, free_port, point_celery_at, unavailable
from tests.smtp import Recorder
from tests.users import PASSWORD, STEP, add_totp


def pytest_collection_modifyitems(config, items):
    """Tests that use a fixture starting servers are marked `processes` (see PROCESS_FIXTURES)."""
    for item in items:
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.processes)


@pytest.fixture(autouse=True)
def _clean_redis():
    """Each test starts with an empty Redis database (the test settings use their own numbers)."""
    connection().flushdb()
    yield


@pytest.fixture(scope="session", autouse=True)
def _saml_keys_read_once():
    """pysaml2 reads each private key once per test run, not at every Server it builds (tests/saml/key_memo.py)."""
    from tests.saml.key_memo import keys_read_once

    with keys_read_once():
        yield


@pytest.fixture(scope="session", autouse=True)
def _quick_flush():
    """After a test that commits, the database is emptied with DELETE where that leaves what Django's
    flush would (tests/flush.py)."""
    from django.test import TransactionTestCase

    from tests.flush import QuickFlush

    original = TransactionTestCase._fixture_teardown
    quick = QuickFlush(original)

    def _fixture_teardown(case) -> None:
        quick(case)

    TransactionTestCase._fixture_teardown = _fixture_teardown  # type: ignore[method-assign]
    yield
    TransactionTestCase._fixture_teardown = original  # type: ignore[method-assign]


@pytest.fixture(scope="session", autouse=True)
def _live_server_without_nagle():
    """Django's test server (pytest-django's live_server) sends a response's headers and its body in two
    writes; with Nagle's algorithm on, the body waits for the client's delayed ACK of the headers, 40 ms
    on loopback for every response a browser or an HTTP client gets from it (gunicorn is not involved)."""
    from django.test.testcases import QuietWSGIRequestHandler

    QuietWSGIRequestHandler.disable_nagle_algorithm = True
    yield
    QuietWSGIRequestHandler.disable_nagle_algorithm = False


@pytest.fixture
def production_argon2(settings):
    """Argon2id at the cost production uses (the app's defaults) instead of the tests' cheapest one
    (tests/settings.py), for the tests that look at the cost itself. Request it before any user is made."""
    for name in ("ARGON2_MEMORY_COST_KIB", "ARGON2_TIME_COST", "ARGON2_PARALLELISM"):
        delattr(settings, name)


@pytest.fixture
def generous_limits(settings):
    """Rate limits high enough that a test repeating an action measures the action, not the limiter."""
    settings.RATE_LIMITS = {name: "10000/h" for name in settings.RATE_LIMITS}


@pytest.fixture
def make_user(db) -> Callable[..., User]:
    def make(email: str = "ada@example.com", password: str = PASSWORD, **fields) -> User:
        fields.setdefault("email_verified", True)
        return User.objects.create_user(email, password, **fields)

    return make


@pytest.fixture
def user(make_user) -> User:
    return make_user()


@pytest.fixture
def clock(monkeypatch):
    """Move `time.time()` forward (sessions, re-authentication and signed tokens read it). Rate limits
    are unaffected: they use Redis' own clock. tests/mfa/ has its own, on TOTP steps (totp_clock)."""
    real_time = time.time
    offset = [0.0]
    monkeypatch.setattr(time, "time", lambda: real_time() + offset[0])

    class Clock:
        def advance(self, seconds: float) -> None:
            offset[0] += seconds

    return Clock()


@pytest.fixture
def totp_clock(monkeypatch):
    """`time.time()` starting 1 s into the next TOTP step, so a code computed by a test is still the current
    one when the server checks it (no flaky step boundaries); `clock.advance(seconds)` moves it on.
    django-otp's TOTP reads `time.time()` too. Rate limits are unaffected: they use Redis' own clock.
    Every test in tests/mfa/ runs on it (its conftest.py)."""
    real_time = time.time
    start = real_time()
    offset = [(int(start) // STEP + 1) * STEP + 1 - start]
    monkeypatch.setattr(time, "time", lambda: real_time() + offset[0])

    class Clock:
        def advance(self, seconds: float) -> None:
            offset[0] += seconds

        def now(self) -> float:
            return time.time()

    return Clock()


@pytest.fixture
def make_admin(make_user):
    """A superuser with an authenticator app (MFA is required for staff by default)."""

    def make(email: str = "root@example.com"):
        admin = make_user(email, is_staff=True, is_superuser=True)
        add_totp(admin)
        return admin

    return make


@pytest.fixture
def client() -> Client:
    """A browser-like client: errors become the pages people would see, not test exceptions."""
    return Client(raise_request_exception=False)


@pytest.fixture
def signed_in_client(user) -> Client:
    c = Client(raise_request_exception=False)
    response = c.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return c


@pytest.fixture
def deliver_outbox(mailoutbox):
    """Send every unsent outbox row now, as the Celery task would, into Django's test outbox."""

    def deliver() -> list:
        for mail_id in OutboxMail.objects.filter(sent_at__isnull=True).values_list("pk", flat=True):
            send_outbox_mail(mail_id)
        return mailoutbox

    return deliver


@pytest.fixture
def smtp_sink(settings):
    """A real SMTP server on loopback; Django's SMTP backend is pointed at it."""
    from aiosmtpd.controller import Controller

    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    yield recorder
    controller.stop()


@pytest.fixture
def celery_worker(transactional_db, settings):
    """A real Celery worker (in a thread of this process) consuming from the test broker."""
    from celery.contrib.testing.worker import start_worker

    from identity.celery import app

    point_celery_at(settings.CELERY_BROKER_URL)
    # The worker waits for tasks in a blocking BRPOP that Redis ends after `polling_interval` (1 s by
    # default) when nothing comes; stopping the worker waited for that at the end of each test. A task
    # is taken as soon as it is queued either way.
    options = app.conf.broker_transport_options
    app.conf.broker_transport_options = {**options, "polling_interval": 0.1}
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10):
            yield app
    finally:
        app.conf.broker_transport_options = options


@pytest.fixture(scope="module")
def redis_server_binary():
    """For the tests that start redis-server themselves (tests/stack.py): skipped without it, failed in CI."""
    if not shutil.which("redis-server"):
        unavailable("redis-server is not installed")


@pytest.fixture
def own_redis(settings):
    """The site's Redis is a private redis-server the test controls."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = RedisProcess()
    server.start()
    settings.REDIS_URL = server.url
    connection.cache_clear()
    yield server
    if server.proc.poll() is None:
        server.stop()
    connection.cache_clear()


@pytest.fixture
def redis_writes(monkeypatch) -> list[list[str]]:
    """The command names of each write to a Redis socket (one write per round trip; a pipeline is one)."""
    from redis.connection import AbstractConnection

    writes: list[list[str]] = []
    original = AbstractConnection.send_packed_command

    def spy(self, command, check_health=True):
        chunks = [command] if isinstance(command, (bytes, str)) else command
        data = b"".join(c.encode() if isinstance(c, str) else bytes(c) for c in chunks)
        writes.append([name.decode().upper() for name in re.findall(rb"\*\d+\r\n\$\d+\r\n([A-Za-z]+)\r\n", data)])
        return original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", spy)
    return writes
