"""Shared by the browser tests: Debian's Chromium under Playwright, and a live server they can trust."""

import os
import shutil
from pathlib import Path

import pytest
import redis

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _unavailable(reason: str):
    """Skip on a developer machine; fail in CI, where a skipped browser test would pass unnoticed."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this test may not be skipped)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def sync_playwright():
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is missing: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    return sync_playwright


@pytest.fixture
def site(live_server, settings):
    """The live server, as the address mailed links and CSRF origin checks use."""
    settings.SITE_URL = live_server.url
    settings.CSRF_TRUSTED_ORIGINS = [live_server.url]
    host = live_server.url.split("//", 1)[1].rsplit(":", 1)[0]
    if host not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, host]
    return live_server.url


@pytest.fixture
def localhost_site(live_server, settings):
    """The live server as http://localhost:<port>: a passkey's relying party id must be a domain, not an
    IP, and this address is also the OpenID Connect issuer. (pytest-django serves on localhost already
    unless --liveserver says otherwise.)"""
    url = live_server.url.replace("127.0.0.1", "localhost")
    settings.SITE_URL = url
    settings.CSRF_TRUSTED_ORIGINS = [url]
    settings.WEBAUTHN_RP_ID = "localhost"
    settings.WEBAUTHN_ORIGINS = [url]
    # DOT copied the issuer from SITE_URL when the settings loaded; it reloads its own on change.
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": url}
    if "localhost" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]
    return url


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


class Screenshots:
    """test-artifacts/<folder>/NN-name.png, numbered across the tests of one module (emptied first)."""

    def __init__(self, folder: str):
        self.folder = ARTIFACTS / folder
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.count = 0

    def __call__(self, page, name: str) -> None:
        self.count += 1
        page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True)


class Watch:
    """Console errors, uncaught page errors and requests of every page, for assertions at the end."""

    def __init__(self, site: str):
        self.site = site
        self.errors: list[str] = []
        self.requests: list[tuple[str, str]] = []

    def attach(self, page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("request", lambda request: self.requests.append((request.method, request.url)))

    def _console(self, message) -> None:
        if message.type != "error":
            return
        # Neither the site nor the example app has a favicon; Chromium asks for one on every page and
        # logs the 404 as an error.
        if (message.location.get("url") or "").endswith("/favicon.ico"):
            return
        self.errors.append(f"console: {message.text} ({message.location.get('url')})")

    def mark(self) -> int:
        return len(self.requests)

    def posts(self, path: str, since: int = 0) -> int:
        return sum(1 for method, url in self.requests[since:] if method == "POST" and url == f"{self.site}{path}")


@pytest.fixture
def empty_broker(settings):
    """No task left in the test broker by another test may reach this test's worker."""
    queue = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue.flushdb()
    queue.close()
