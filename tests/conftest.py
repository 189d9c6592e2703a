from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable

import pytest
import redis
from django.conf import settings as django_settings
from django.test import Client

from accounts.models import OutboxMail, User
from accounts.tasks import send_outbox_mail
from identity.redis import connection
from tests.processes import free_port, wait_until_broker_idle  # noqa: F401  (imported from here by tests)

PASSWORD = "correct horse battery staple"


# Fixtures that start servers: a test using one (directly or through another fixture) is marked
# `processes`, so a developer can leave the slow ones out locally with `-m "not processes"`.
PROCESS_FIXTURES = {"redis_server_binary", "own_redis"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.processes)


@pytest.fixture(autouse=True)
def _clean_redis():
    """Each test starts with an empty Redis database (the test settings use their own numbers)."""
    connection().flushdb()
    yield


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


def totp_code(device, steps_ago: int = 0) -> str:
    """The code an authenticator app would show for a django-otp TOTP device (now, or steps ago)."""
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() - steps_ago * device.step
    return f"{totp.token():0{device.digits}d}"


def add_totp(user, name: str = "Phone"):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from mfa.totp import new_secret

    return TOTPDevice.objects.create(user=user, name=name, key=new_secret(), confirmed=True)


def pass_mfa(browser: Client, user, **extra):
    """Answer the MFA step of a pending sign-in with the user's current TOTP code."""
    from mfa.policy import totp_devices

    return browser.post("/accounts/mfa/", {"code": totp_code(totp_devices(user).first())}, **extra)


@pytest.fixture
def make_admin(make_user):
    """A superuser with an authenticator app (MFA is required for staff by default)."""

    def make(email: str = "root@example.com"):
        admin = make_user(email, is_staff=True, is_superuser=True)
        add_totp(admin)
        return admin

    return make


def sign_in_admin(admin, browser: Client | None = None, **extra) -> Client:
    browser = browser or Client(raise_request_exception=False)
    first = browser.post("/accounts/login/", {"email": admin.email, "password": PASSWORD}, **extra)
    assert first.status_code == 302 and first["Location"] == "/accounts/mfa/", first
    assert pass_mfa(browser, admin, **extra).status_code == 302
    return browser


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


def database_url(name: str) -> str:
    """A database on the test database's server, as a URL for the processes a test starts."""
    db = django_settings.DATABASES["default"]
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


class Recorder:
    """An aiosmtpd handler that keeps each message it receives."""

    def __init__(self):
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes
        from email.policy import default

        self.messages.append(message_from_bytes(envelope.content, policy=default))
        return "250 Message accepted"

    def wait_for(self, count: int, timeout: float = 20.0) -> list:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


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


@pytest.fixture
def celery_worker(transactional_db, settings):
    """A real Celery worker (in a thread of this process) consuming from the test broker."""
    from celery.contrib.testing.worker import start_worker

    from identity.celery import app

    point_celery_at(settings.CELERY_BROKER_URL)
    with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10):
        yield app


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
