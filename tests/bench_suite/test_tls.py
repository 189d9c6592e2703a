"""`make bench ARGS=--tls` works, tested in its parts (a whole TLS run would cost as much as the bench
suite's own run): a site under the bench's gunicorn command serves the bench's certificate and the
driver trusts that and nothing else; over https the driver signs in to Identity with the production
cookies (Secure, `__Host-` names) and passes the CSRF check, which over https wants an Origin."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connections

from bench import accounts, driver, tls
from bench.inprocess import DirectWSGI  # the URL's scheme becomes the request's: the site sees https
from bench.run import gunicorn_argv, wait_for
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]


def drive(base: str, ca: Path, scenario: str = "bare_django") -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "bench.driver", "--base", base, "--scenario", scenario, "--ca", str(ca)]
    argv += ["--users", "2", "--seconds", "0.5", "--warmup", "0.2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(argv, cwd=ROOT, env=env, input="GO\n", capture_output=True, text=True, timeout=60)


@pytest.mark.processes
def test_a_site_serves_the_bench_certificate_and_the_driver_trusts_only_that(tmp_path):
    certificate = tls.self_signed(tmp_path)
    port = free_port()
    env = {**os.environ, "BIND": f"127.0.0.1:{port}", "DJANGO_SETTINGS_MODULE": "bench.baseline.settings"}
    with open(tmp_path / "gunicorn.log", "wb") as log:
        site = subprocess.Popen(
            gunicorn_argv("bench.baseline.wsgi", certificate),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(f"https://127.0.0.1:{port}/", "the baseline", site, tls.client_context(certificate[0]))

        run = drive(f"https://127.0.0.1:{port}", certificate[0])
        assert run.returncode == 0, run.stderr[-2000:]
        result = json.loads(run.stdout.splitlines()[-1])
        assert result["operations"] > 0 and result["errors"] == 0, result

        other = tmp_path / "other"
        other.mkdir()
        impostor = drive(f"https://127.0.0.1:{port}", tls.self_signed(other)[0])  # a certificate it was not given
        assert impostor.returncode != 0
        assert "CERTIFICATE_VERIFY_FAILED" in impostor.stderr + impostor.stdout
    finally:
        os.killpg(site.pid, signal.SIGTERM)
        site.wait(30)


def in_loop(steps) -> httpx.Cookies:
    """Run `steps(user)` for a driver user whose browser talks https to the site in this process. The
    site's database connection inside the event loop is its own (Django's are per context), so the
    tests commit their data (transactional_db) and that connection is closed before the loop ends."""

    async def run() -> httpx.Cookies:
        site = WSGIHandler()
        browser = httpx.AsyncClient(transport=DirectWSGI(site), base_url="https://127.0.0.1")
        app = httpx.AsyncClient(transport=DirectWSGI(site), base_url="https://127.0.0.1")
        try:
            await steps(driver.User(browser, app, 0, {}, "https://localhost"))
        finally:
            connections.close_all()
        return browser.cookies

    return asyncio.run(run())


@pytest.fixture
def production_cookies(transactional_db, settings, monkeypatch):
    """What bench.run sets with --tls: SECURE_COOKIES on (identity/settings.py derives these from it),
    the https redirect on, the public origin https."""
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME = "__Host-session", "__Host-csrftoken"
    settings.SECURE_SSL_REDIRECT = True
    settings.CSRF_TRUSTED_ORIGINS = ["https://localhost"]
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # the site runs inside the driver's event loop


def test_over_https_the_driver_signs_in_with_the_production_cookies(make_user, production_cookies):
    make_user(accounts.email(0), accounts.PASSWORD)

    async def sign_in_twice_and_read_the_page(user: driver.User) -> None:
        await driver.signin_setup(user)
        await driver.signin_once(user)  # a returning person: the form's CSRF cookie and the device cookie kept
        await driver.signin_once(user)
        await driver.page_once(user)

    cookies = in_loop(sign_in_twice_and_read_the_page)
    assert {"__Host-session", "__Host-csrftoken", "__Host-device"} <= {cookie.name for cookie in cookies.jar}
    assert all(cookie.secure for cookie in cookies.jar if cookie.name == "__Host-session")


def test_over_https_a_post_without_origin_fails_the_csrf_check(make_user, production_cookies):
    """What the driver's Origin header is for: without it (and without a Referer) Django refuses the form."""
    make_user(accounts.email(0), accounts.PASSWORD)

    async def sign_in_without_origin(user: driver.User) -> None:
        user.posting = {}
        await driver.signin_setup(user)
        await user.sign_in()

    with pytest.raises(driver.Failed, match="403"):
        in_loop(sign_in_without_origin)
