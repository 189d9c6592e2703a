"""The "This wasn't me" confirmation page in a real Chromium, English and German, desktop and phone: the
security page's button opens it, a wrong password shows it again with the error summary, and nothing
scrolls sideways at 390 px. Screenshots land in test-artifacts/notme/."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client

from tests.e2e.browser import Screenshots, Watch, signed_in_context
from tests.e2e.test_passkeys import launch
from tests.users import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}
BUTTON = {"en": "This wasn't me", "de": "Das war ich nicht"}
CONFIRM = {"en": "Confirm", "de": "Bestätigen"}


@pytest.fixture
def site(localhost_site):
    return localhost_site


@pytest.fixture(scope="module")
def snap() -> Screenshots:
    return Screenshots("notme")


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_not_me_page_asks_first_and_shows_a_wrong_password(sync_playwright, site, make_user, snap, language):
    user = make_user("margaret.hamilton-with-a-rather-long-address@example.com")
    browser_client = Client()
    assert browser_client.post("/accounts/login/", {"email": user.email, "password": PASSWORD}).status_code == 302
    session = browser_client.cookies[settings.SESSION_COOKIE_NAME].value
    watch = Watch(site)
    with sync_playwright() as p:
        browser = launch(p)
        for width_name, (width, height) in WIDTHS.items():
            context = signed_in_context(browser, session, locale=language, width=width, height=height)
            page = context.new_page()
            watch.attach(page)
            page.goto(f"{site}/accounts/security/")
            page.get_by_role("button", name=BUTTON[language]).click()
            page.wait_for_url(re.compile(re.escape(f"{site}/accounts/security/not-me/")))
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            snap(page, f"confirm-{width_name}-{language}")
            page.locator("#not-me-password").fill("not my password")
            page.get_by_role("button", name=CONFIRM[language]).click()
            page.wait_for_selector("[data-error-summary]")
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            snap(page, f"wrong-password-{width_name}-{language}")
            context.close()
        browser.close()
    unexpected = [error for error in watch.errors if "status of 400" not in error]  # the wrong password's 400
    assert not unexpected, unexpected
