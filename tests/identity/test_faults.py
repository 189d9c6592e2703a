"""Fault tolerance against real processes: gunicorn, a Celery worker, redis-server and an SMTP server.

Each test starts its own redis-server (sessions and cache in db 0, the broker in db 1), an SMTP sink,
gunicorn and/or a Celery worker as subprocesses that share pytest's test database, then breaks one of
them: Redis stopped under gunicorn, a worker SIGKILLed in the middle of an SMTP conversation, an SMTP
server refusing mail. Everything started is stopped in `finally` blocks.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.conf import settings as django_settings
from django.db import transaction

from accounts.models import OutboxMail, User
from accounts.outbox import queue_mail
from accounts.tasks import sweep_outbox
from tests.conftest import PASSWORD, database_url, free_port, point_celery_at
from tests.identity.test_outage import RedisProcess

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
GUNICORN = VENV_BIN / "gunicorn" if (VENV_BIN / "gunicorn").exists() else Path(sys.executable).parent / "gunicorn"
CELERY = VENV_BIN / "celery" if (VENV_BIN / "celery").exists() else Path(sys.executable).parent / "celery"

# The subprocesses use the test settings, but with real SMTP (tests/settings.py forces locmem).
SETTINGS_MODULE = """\
from tests.settings import *  # noqa: F401,F403

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
SECURE_SSL_REDIRECT = False
"""


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def redis_server_binary():
    if not shutil.which("redis-server"):
        reason = "redis-server is not installed"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so this test may not be skipped)", pytrace=False)
        pytest.skip(reason)


# --- The SMTP sink -----------------------------------------------------------------------------


class Sink:
    """An aiosmtpd handler that records messages and can be slow or refuse on demand."""

    def __init__(self):
        self.messages: list = []
        self.rcpt_seen = threading.Event()
        self.slow_rcpt_once = 0.0  # seconds the first RCPT is held (a send in progress)
        self.refusing = False
        self.refused = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpt_seen.set()
        if self.slow_rcpt_once:
            delay, self.slow_rcpt_once = self.slow_rcpt_once, 0.0
            await asyncio.sleep(delay)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.refusing:
            self.refused += 1
            return "451 4.3.0 Try again later"
        from email import message_from_bytes
        from email.policy import default

        self.messages.append(message_from_bytes(envelope.content, policy=default))
        return "250 Message accepted"


# --- The processes -----------------------------------------------------------------------------


class Stack:
    """redis-server, an SMTP sink, and on demand gunicorn and Celery workers, sharing the test database."""

    def __init__(self, tmp: Path, exits: ExitStack):
        from aiosmtpd.controller import Controller

        self.tmp = tmp
        self.exits = exits
        self.procs: list[subprocess.Popen] = []
        exits.callback(self._stop_all)

        self.redis = RedisProcess()
        self.redis.start()
        exits.callback(self._stop_redis)

        self.sink = Sink()
        self.smtp_port = free_port()
        controller = Controller(self.sink, hostname="127.0.0.1", port=self.smtp_port)
        controller.start()
        exits.callback(controller.stop)

        self.web_port = free_port()
        (tmp / "fault_settings.py").write_text(SETTINGS_MODULE)
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(tmp), str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "DJANGO_SETTINGS_MODULE": "fault_settings",
            "DATABASE_URL": database_url(django_settings.DATABASES["default"]["NAME"]),
            "REDIS_URL": self.redis_url,
            "CELERY_BROKER_URL": self.broker_url,
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.smtp_port),
            "EMAIL_TIMEOUT": "10",
            "SITE_URL": f"http://127.0.0.1:{self.web_port}",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_COOKIES": "0",  # plain cookie names: the test talks http
            "BIND": f"127.0.0.1:{self.web_port}",
            "WEB_CONCURRENCY": "2",
            "LOG_LEVEL": "INFO",
        }
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis.port}/0"

    @property
    def broker_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis.port}/1"

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.tmp / f"{name}-{len(self.procs)}.log", "wb")
        self.exits.callback(log.close)
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.tmp.glob("*.log"))
        )

    def start_gunicorn(self) -> subprocess.Popen:
        proc = self._spawn("gunicorn", [str(GUNICORN), "identity.wsgi", "-c", "gunicorn.conf.py"])

        def healthy():
            assert proc.poll() is None, f"gunicorn exited\n{self.logs()}"
            try:
                return self.request("GET", "/healthz")[0] == 200
            except OSError:
                return False

        wait_for(healthy, 30, "gunicorn /healthz")
        return proc

    def start_worker(self) -> subprocess.Popen:
        proc = self._spawn(
            "worker",
            [
                str(CELERY),
                "-A",
                "identity",
                "worker",
                "--pool=solo",
                "--concurrency=1",
                "-Q",
                "celery",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
        )
        log = Path(self.tmp / f"worker-{len(self.procs) - 1}.log")

        def ready():
            assert proc.poll() is None, f"worker exited\n{self.logs()}"
            return b"ready." in log.read_bytes()

        wait_for(ready, 30, "the Celery worker to be ready", interval=0.1)
        return proc

    @staticmethod
    def _stop(proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def _stop_all(self) -> None:
        for proc in reversed(self.procs):
            self._stop(proc)

    def _stop_redis(self) -> None:
        if self.redis.proc is not None and self.redis.proc.poll() is None:
            self.redis.stop()

    # -- http: no redirects followed, cookies kept by hand --

    def request(self, method: str, path: str, form: dict | None = None, cookies: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.web_port, timeout=10)
        headers = {"Host": f"127.0.0.1:{self.web_port}"}
        body = None
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = f"http://127.0.0.1:{self.web_port}"
            headers["Referer"] = f"http://127.0.0.1:{self.web_port}{path}"
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            content = response.read().decode(errors="replace")
            if cookies is not None:
                for header in response.headers.get_all("Set-Cookie") or []:
                    for name, morsel in SimpleCookie(header).items():
                        if morsel["max-age"] == "0" or not morsel.value:
                            cookies.pop(name, None)
                        else:
                            cookies[name] = morsel.value
            return response.status, content, response
        finally:
            conn.close()


@contextmanager
def stack(tmp_path: Path) -> Iterator[Stack]:
    with ExitStack() as exits:
        yield Stack(tmp_path, exits)


@pytest.fixture
def celery_on(settings):
    """Point this process's Celery publisher at a private broker; back at the test broker afterwards."""
    original = os.environ.get("CELERY_BROKER_URL")
    try:
        yield point_celery_at
    finally:
        point_celery_at(settings.CELERY_BROKER_URL)
        if original is not None:
            os.environ["CELERY_BROKER_URL"] = original


CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def sign_in(web: Stack, email: str) -> dict:
    cookies: dict[str, str] = {}
    status, page, _ = web.request("GET", "/accounts/login/", cookies=cookies)
    assert status == 200, page[:500]
    token = CSRF.search(page).group(1)
    status, page, response = web.request(
        "POST", "/accounts/login/", {"csrfmiddlewaretoken": token, "email": email, "password": PASSWORD}, cookies
    )
    assert status == 302, (status, page[:1000])
    assert "session" in cookies
    return cookies


# --- 1. Redis stops under a running gunicorn -----------------------------------------------------


def test_redis_stopped_under_gunicorn_answers_503_then_recovers(redis_server_binary, tmp_path):
    user = User.objects.create_user("ada@example.com", PASSWORD, email_verified=True)
    with stack(tmp_path) as web:
        web.start_gunicorn()
        assert web.request("GET", "/accounts/login/")[0] == 200
        cookies = sign_in(web, user.email)
        assert web.request("GET", "/accounts/", cookies=dict(cookies))[0] == 200
        assert web.request("GET", "/readyz")[0] == 200

        web.redis.stop()
        # Several rounds, so both gunicorn workers are hit. A reset connection raises here and fails.
        for _ in range(4):
            status, page, response = web.request("GET", "/accounts/", cookies=dict(cookies))
            assert status == 503, (status, page[:500])
            assert "Temporarily unavailable" in page
            assert response.headers["Retry-After"]
            login_page = web.request("GET", "/accounts/login/", cookies=dict(cookies))
            assert login_page[0] == 503, login_page[0]
            status, page, _ = web.request(
                "POST", "/accounts/login/", {"email": user.email, "password": "wrong password here"}, dict(cookies)
            )
            assert status in (403, 503), status  # no CSRF token: refused, but never a 500
            status, body, _ = web.request("GET", "/readyz")
            assert status == 503
            checks = json.loads(body)["checks"]
            assert checks["redis"].startswith("error"), checks
            assert checks["database"] == "ok", checks

        web.redis.start()  # same port, empty: the old session is gone, gunicorn is not restarted
        for _ in range(4):
            assert web.request("GET", "/accounts/login/")[0] == 200
            assert web.request("GET", "/readyz")[0] == 200
            assert web.request("GET", "/accounts/", cookies=dict(cookies))[0] == 302  # signed out, not an error
        cookies = sign_in(web, user.email)
        assert web.request("GET", "/accounts/", cookies=dict(cookies))[0] == 200


# --- 2. A worker SIGKILLed in the middle of sending ----------------------------------------------


def test_worker_killed_mid_send_mail_is_delivered_exactly_once(redis_server_binary, tmp_path, settings, celery_on):
    user = User.objects.create_user("grace@example.com", PASSWORD, email_verified=True)
    settings.MAIL_SWEEP_AFTER = 0
    with stack(tmp_path) as web:
        celery_on(web.broker_url)
        web.sink.slow_rcpt_once = 4.0
        first = web.start_worker()
        with transaction.atomic():
            row = queue_mail(OutboxMail.Kind.PASSWORD_RESET, user)
        assert web.sink.rcpt_seen.wait(20), f"the worker never reached RCPT\n{web.logs()}"

        first.send_signal(signal.SIGKILL)
        first.wait(5)
        assert web.sink.messages == []
        row.refresh_from_db()
        assert row.sent_at is None

        web.start_worker()

        def delivered():
            # The killed worker's row lock goes when PostgreSQL notices its connection closed; until
            # then a new task skips the row, so the sweep is repeated (as beat would).
            if not web.sink.messages:
                sweep_outbox()
                time.sleep(1.0)
            return web.sink.messages

        wait_for(delivered, 30, f"the mail after the sweep\n{web.logs()}", interval=0.1)
        time.sleep(3)  # any duplicate (a re-delivered task, a second sweep) would arrive by now
        assert len(web.sink.messages) == 1
        assert web.sink.messages[0]["To"] == user.email
        row.refresh_from_db()
        assert row.sent_at is not None
        assert row.last_error == ""


# --- 3. SMTP refusing, then accepting ----------------------------------------------------------


def test_smtp_refusing_then_back_delivers_once(redis_server_binary, tmp_path, settings, celery_on):
    user = User.objects.create_user("hopper@example.com", PASSWORD, email_verified=True)
    settings.MAIL_SWEEP_AFTER = 0
    with stack(tmp_path) as web:
        celery_on(web.broker_url)
        web.sink.refusing = True
        web.start_worker()
        with transaction.atomic():
            row = queue_mail(OutboxMail.Kind.PASSWORD_RESET, user)

        def failed_once():
            row.refresh_from_db()
            return row.attempts > 0 and row.last_error

        wait_for(failed_once, 20, f"a failed attempt to be recorded\n{web.logs()}", interval=0.1)
        assert "451" in row.last_error
        assert row.sent_at is None
        assert web.sink.refused >= 1 and web.sink.messages == []

        web.sink.refusing = False
        assert sweep_outbox() == 1  # as beat would; the task's own retry may also come
        wait_for(lambda: web.sink.messages, 20, f"the mail once SMTP accepts\n{web.logs()}", interval=0.1)
        time.sleep(3)
        assert len(web.sink.messages) == 1
        row.refresh_from_db()
        assert row.sent_at is not None
        assert row.last_error == ""
        assert row.attempts >= 2
