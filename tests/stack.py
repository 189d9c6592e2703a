"""The site as production runs it, in subprocesses that share pytest's test database: redis-server
(sessions and cache in db 0, the broker in db 1), an SMTP sink, and on demand gunicorn and Celery
workers. The fault, metrics and Sentinel tests use `stack()`; tests/scaleout/cluster.py builds on `Stack`.
Everything started is stopped when the `stack()` block (its ExitStack) ends.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings as django_settings

from tests.processes import RedisProcess, database_url, free_port
from tests.smtp import Sink
from tests.users import PASSWORD

ROOT = Path(__file__).resolve().parents[1]
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
