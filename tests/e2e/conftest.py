"""Shared by the browser tests: Debian's Chromium under Playwright, and a live server they can trust."""

import os
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
def empty_broker(settings):
    """No task left in the test broker by another test may reach this test's worker."""
    queue = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue.flushdb()
    queue.close()
