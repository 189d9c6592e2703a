"""Sign up, verify the address from the mail, sign in, sign out and sign in again, in a real Chromium.

Everything is real except the internet: the site runs in pytest-django's live server, mail goes through
the outbox, Redis and a Celery worker to an SMTP server on loopback, and Debian's Chromium drives the pages.
Screenshots of each page land in test-artifacts/signup-signin/.

The site runs with the production cookie settings: `Secure`, `__Host-`-prefixed session and CSRF cookies.
Chromium accepts them over plain http because http://localhost is a secure context, so nothing is relaxed.

Playwright's sync API keeps an asyncio loop running in this thread while the `with sync_playwright()`
block is open, so Django refuses ORM calls here inside it (SynchronousOnlyOperation). The live server and
the Celery worker run in their own threads and are unaffected; this test touches the database only after
the block, so DJANGO_ALLOW_ASYNC_UNSAFE is not needed.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from accounts.models import OutboxMail, User
from tests.conftest import PASSWORD
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "signup-signin"
EMAIL = "katherine@example.com"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


def test_sign_up_verify_sign_in_sign_out_and_sign_in_again(
    sync_playwright, site, empty_broker, smtp_sink, celery_worker, artifacts
):
    shots = iter(range(1, 100))

    def snap(page, name: str) -> None:
        page.screenshot(path=str(artifacts / f"{next(shots):02d}-{name}.png"), full_page=True)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            page = context.new_page()
            page.set_default_timeout(15_000)

            def heading() -> str:
                return page.locator("h1").inner_text()

            # Sign up.
            page.goto(f"{site}/accounts/signup/")
            assert heading() == "Create an account"
            page.get_by_label("Email address").fill(EMAIL)
            page.get_by_label("Password").fill(PASSWORD)
            snap(page, "signup")
            page.get_by_role("button", name="Create account").click()
            page.wait_for_url(f"{site}/accounts/signup/check-inbox/")
            assert heading() == "Check your inbox"
            snap(page, "check-inbox")

            # The verification mail, sent by the worker to the SMTP sink.
            [message] = smtp_sink.wait_for(1)
            assert str(message["To"]) == EMAIL
            text = message.get_body(preferencelist=("plain",)).get_content()
            link = re.search(rf"{re.escape(site)}/accounts/verify/[^/\s]+/", text)
            assert link, text

            # Following the link asks for a confirmation click; the click verifies.
            page.goto(link.group(0))
            page.wait_for_url(f"{site}/accounts/verify/confirm/")
            assert heading() == "Verify your email address"
            assert EMAIL in page.locator("main").inner_text()
            snap(page, "verify-confirm")
            page.get_by_role("button", name="Confirm my address").click()
            page.wait_for_url(re.compile(re.escape(f"{site}/accounts/login/") + r"\?email="))
            assert "Your email address is verified" in page.locator("main").inner_text()
            assert page.get_by_label("Email address").input_value() == EMAIL
            snap(page, "verified")

            # Sign in.
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in", exact=True).click()
            page.wait_for_url(f"{site}/accounts/")
            assert heading() == "Your account"
            assert EMAIL in page.locator("dl.facts").inner_text()
            cookies = {c["name"]: c for c in context.cookies()}
            assert cookies["__Host-session"]["secure"] and cookies["__Host-session"]["httpOnly"]
            assert cookies["__Host-csrftoken"]["secure"]
            snap(page, "account")

            # Sign out with the page's button.
            page.locator("main").get_by_role("button", name="Sign out").click()
            page.wait_for_url(f"{site}/accounts/login/")
            assert heading() == "Sign in"
            assert "You have signed out." in page.locator("main").inner_text()
            snap(page, "signed-out")
            page.goto(f"{site}/accounts/")
            page.wait_for_url(re.compile(re.escape(f"{site}/accounts/login/") + r"\?next="))

            # Sign in again.
            page.get_by_label("Email address").fill(EMAIL)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in", exact=True).click()
            page.wait_for_url(f"{site}/accounts/")
            assert heading() == "Your account"
            assert EMAIL in page.locator("dl.facts").inner_text()
            snap(page, "account-again")
        finally:
            browser.close()

    # Only now, with Playwright's loop gone, may this thread use the ORM.
    assert User.objects.get_by_email(EMAIL).email_verified
    [row] = OutboxMail.objects.all()
    assert row.kind == OutboxMail.Kind.VERIFY_EMAIL and row.sent_at is not None
    assert len(smtp_sink.messages) == 1
