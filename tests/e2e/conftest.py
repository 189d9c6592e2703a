"""Shared by the browser tests: Debian's Chromium under Playwright, and a live server they can trust
(helpers in browser.py)."""

from pathlib import Path

import pytest
import redis

from tests.e2e.browser import CHROMIUM
from tests.processes import unavailable


@pytest.fixture
def sync_playwright():
    if not Path(CHROMIUM).exists():
        unavailable(f"{CHROMIUM} is missing: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed")
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


@pytest.fixture
def empty_broker(settings):
    """No task left in the test broker by another test may reach this test's worker."""
    queue = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue.flushdb()
    queue.close()
