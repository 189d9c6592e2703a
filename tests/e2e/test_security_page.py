"""Two browsers signed in to one account; the first ends the second's session, then reports "this wasn't me".

The laptop signed in longer ago than REAUTHENTICATION_TIMEOUT (the clock is moved on), so ending the
other session asks it to confirm it's you with the password first (a stolen cookie alone must not sign
the owner out of their other browsers); then the button does it.

Two Playwright contexts are two separate "devices" (own cookies, own user agent) in one real Chromium.
The site runs in pytest-django's live server; mail goes through the outbox, Redis and a Celery worker to
an SMTP server on loopback. Screenshots of each step land in test-artifacts/security-page/.

As in test_signup_signin.py, no ORM call happens inside the `with sync_playwright()` block (Playwright
keeps an asyncio loop running in this thread, and Django would refuse): the user is created before it and
the database is checked after it.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import KnownDevice, OutboxMail, SecurityEvent, User
from accounts.sessions import user_sessions
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS
from tests.users import PASSWORD

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "security-page"
EMAIL = "margaret@example.com"
LAPTOP_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
OTHER_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


def test_end_another_session_then_report_this_was_not_me(
    sync_playwright, site, make_user, empty_broker, smtp_sink, celery_worker, artifacts, monkeypatch
):
    user = make_user(EMAIL)  # verified; created before the browser opens
    shots = iter(range(1, 100))

    def snap(page, name: str) -> None:
        page.screenshot(path=str(artifacts / f"{next(shots):02d}-{name}.png"), full_page=True)

    signin_url = re.compile(re.escape(f"{site}/accounts/login/") + r"(\?.*)?$")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            laptop = browser.new_context(user_agent=LAPTOP_UA).new_page()
            other = browser.new_context(user_agent=OTHER_UA).new_page()
            for page in (laptop, other):
                page.set_default_timeout(15_000)

            def sign_in(page, name: str, password: str = PASSWORD) -> None:
                page.goto(f"{site}/accounts/login/")
                page.get_by_label("Email address").fill(EMAIL)
                page.get_by_label("Password").fill(password)
                page.get_by_role("button", name="Sign in", exact=True).click()
                if password == PASSWORD:
                    page.wait_for_url(f"{site}/accounts/")
                    assert page.locator("h1").inner_text() == "Your account"
                snap(page, name)

            # Two devices sign in; the second mistypes its password first (it shows in the history).
            sign_in(laptop, "laptop-signed-in")
            sign_in(other, "other-wrong-password", password="not the right password")
            assert "do not match an account" in other.locator("main").inner_text()
            sign_in(other, "other-signed-in")

            # The laptop's security page lists both sessions, marking its own.
            laptop.goto(f"{site}/accounts/security/")
            assert laptop.locator("h1").inner_text() == "Security"
            rows = laptop.locator("li.row")
            assert rows.count() == 2
            this_row = rows.filter(has_text="This device")
            assert this_row.count() == 1
            assert "Firefox on Windows" in this_row.inner_text()
            assert this_row.get_by_role("button").count() == 0
            other_row = rows.filter(has_text="Chrome on Mac OS X")
            assert other_row.count() == 1 and "This device" not in other_row.inner_text()
            history = laptop.locator("table.history").inner_text()
            assert "Sign-in failed" in history and history.count("Signed in") == 2
            snap(laptop, "security-two-sessions")

            # Long after the sign-in, ending the other session asks the laptop to confirm it's you first.
            real_time = time.time
            monkeypatch.setattr(time, "time", lambda: real_time() + accounts_settings.REAUTHENTICATION_TIMEOUT + 60)
            other_row.get_by_role("button", name="Sign out").click()
            laptop.wait_for_url(re.compile(re.escape(f"{site}/accounts/reauthenticate/?next=")))
            assert laptop.locator("h1").inner_text() == "Confirm it's you"
            assert "Nothing has been changed yet" in laptop.locator("main").inner_text()
            snap(laptop, "confirm-before-ending-a-session")
            laptop.get_by_label("Password").fill(PASSWORD)
            laptop.get_by_role("button", name="Continue").click()
            laptop.wait_for_url(f"{site}/accounts/security/")
            assert laptop.locator("li.row").count() == 2, "nothing ended before confirming"

            # Then the other session's own button ends it.
            other_row = laptop.locator("li.row").filter(has_text="Chrome on Mac OS X")
            other_row.get_by_role("button", name="Sign out").click()
            laptop.wait_for_url(f"{site}/accounts/security/")
            assert "That session has been signed out." in laptop.locator("main").inner_text()
            assert laptop.locator("li.row").count() == 1
            assert "This device" in laptop.locator("li.row").inner_text()
            snap(laptop, "other-session-ended")

            # The other device finds itself signed out.
            other.reload()
            other.wait_for_url(signin_url)
            assert other.locator("h1").inner_text() == "Sign in"
            other.goto(f"{site}/accounts/security/")
            other.wait_for_url(re.compile(re.escape(f"{site}/accounts/login/?next=")))
            snap(other, "other-signed-out")

            # "This wasn't me" (confirmed with this session's password) signs the laptop out too.
            laptop.get_by_role("button", name="This wasn't me").click()
            laptop.wait_for_url(re.compile(re.escape(f"{site}/accounts/security/not-me/")))  # a GET form: "?"
            laptop.get_by_label("Your current password, to confirm it's you").fill(PASSWORD)
            laptop.get_by_role("button", name="Confirm").click()
            laptop.wait_for_url(f"{site}/accounts/not-me/done/")
            assert laptop.locator("h1").inner_text() == "Check your inbox"
            assert "Your old password no longer works" in laptop.locator("main").inner_text()
            snap(laptop, "not-me-signed-out")
            laptop.goto(f"{site}/accounts/security/")
            laptop.wait_for_url(re.compile(re.escape(f"{site}/accounts/login/?next=")))
        finally:
            browser.close()

    # Only now, with Playwright's loop gone, may this thread use the ORM.
    assert user_sessions(user.pk) == {}
    kinds = list(SecurityEvent.objects.filter(user=user).order_by("at", "pk").values_list("kind", flat=True))
    assert kinds == [
        SecurityEvent.Kind.SIGNIN_SUCCEEDED,
        SecurityEvent.Kind.SIGNIN_FAILED,
        SecurityEvent.Kind.SIGNIN_SUCCEEDED,
        SecurityEvent.Kind.REAUTHENTICATED,
        SecurityEvent.Kind.SESSION_ENDED,
        SecurityEvent.Kind.NOT_ME,
        SecurityEvent.Kind.SIGNED_OUT,
    ]
    # "This wasn't me" forgets every known browser, so the next sign-in from any of them is reported.
    assert not KnownDevice.objects.filter(user=user).exists()

    # The second device's sign-in was reported, and "this wasn't me" mailed a reset link.
    messages = smtp_sink.wait_for(2)
    assert len(messages) == 2
    by_subject = {str(m["Subject"]): m for m in messages}
    assert set(by_subject) == {"Identity: New sign-in to your account", "Identity: Reset your password"}
    new_device = by_subject["Identity: New sign-in to your account"].get_body(preferencelist=("plain",)).get_content()
    assert "Device: Chrome on Mac OS X" in new_device
    assert re.search(r"IP address: (127\.0\.0\.1|::1)\s", new_device), new_device  # localhost may be ::1
    reset = by_subject["Identity: Reset your password"].get_body(preferencelist=("plain",)).get_content()
    assert re.search(rf"{re.escape(site)}/accounts/password/reset/[^/\s]+/[^/\s]+/", reset), reset
    assert all(str(m["To"]) == EMAIL for m in messages)
    assert OutboxMail.objects.filter(user=user, sent_at__isnull=True).count() == 0
    assert User.objects.get(pk=user.pk).is_active
