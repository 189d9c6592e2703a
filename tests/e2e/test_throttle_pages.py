"""Screenshots (English and German, desktop and phone) of the pages issue 19's throttle items changed:
a throttled sign-up and password change, "check your inbox" with the address, the collapsed sign-in
history, an already verified link, and an email-change link opened in another browser (signed out and
signed in as someone else). Each page is checked for its words and for no sideways scrolling at 390 px.

As elsewhere, no ORM call inside the `with sync_playwright()` block: everything is made before it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from accounts.models import SecurityEvent
from accounts.tokens import make_email_change_token, make_verification_token
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, Screenshots, signed_in_context
from tests.users import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
WORDS = {
    "en": {
        "throttled": "Try again in",
        "inbox": "We have sent a message to",
        "history": "5 times",
        "already": "already verified",
        "elsewhere": "sign in first",
        "other": "You are signed in as",
    },
    "de": {
        "throttled": "Versuchen Sie es in",
        "inbox": "Wir haben eine Nachricht an",
        "history": "5-mal",
        "already": "bereits bestätigt",
        "elsewhere": "melden Sie sich zuerst an",
        "other": "Sie sind als",
    },
}


def session_of(email: str) -> str:
    c = Client()
    assert c.post("/accounts/login/", {"email": email, "password": PASSWORD}).status_code == 302
    return c.cookies[django_settings.SESSION_COOKIE_NAME].value


def test_screenshots_of_the_changed_pages(sync_playwright, localhost_site, settings, make_user):
    site = localhost_site
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "signup-address": "1/h", "password-change-session": "1/15m"}
    ada = make_user("ada@example.com")
    make_user("bob@example.com")
    bea = make_user("bea@example.com", email_verified=False)
    verify_token = make_verification_token(bea)
    bea.email_verified = True
    bea.save()
    change_token = make_email_change_token(ada, "ada.new@example.com")
    for minutes in (50, 40, 30, 20, 10):
        SecurityEvent.objects.create(
            user=ada,
            kind=SecurityEvent.Kind.SIGNIN_FAILED,
            method="pwd",
            reason="bad_credentials",
            ip="203.0.113.9",
            user_agent="Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Chrome/126.0.0.0 Safari/537.36",
            at=timezone.now() - timedelta(minutes=minutes),
        )
    ada_session, bob_session = session_of(ada.email), session_of("bob@example.com")
    snap = Screenshots("throttle")
    overflow: list[str] = []

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for language in ("en", "de"):
                words = WORDS[language]
                for size, (width, height) in SIZES.items():
                    tag = f"{language}-{size}"

                    def shot(page, name: str, expect: str, tag: str = tag) -> None:
                        assert expect in page.content(), (name, tag)
                        if page.evaluate("document.documentElement.scrollWidth > window.innerWidth"):
                            overflow.append(f"{name}-{tag}")
                        snap(page, f"{name}-{tag}")

                    anonymous = browser.new_context(viewport={"width": width, "height": height}, locale=language)
                    page = anonymous.new_page()
                    address = f"new-{tag}@example.com"
                    for _ in range(2):
                        page.goto(f"{site}/accounts/signup/")
                        page.fill("input[name=email]", address)
                        page.fill("input[name=password]", "a long enough passphrase 42")
                        page.click("button[type=submit].primary")
                        if "check-inbox" in page.url:
                            shot(page, "check-inbox", words["inbox"])
                    shot(page, "signup-throttled", words["throttled"])
                    page.goto(f"{site}/accounts/verify/{verify_token}/")
                    shot(page, "verify-already", words["already"])
                    page.goto(f"{site}/accounts/email/confirm/{change_token}/")
                    shot(page, "email-change-signed-out", words["elsewhere"])
                    anonymous.close()

                    ada_context = signed_in_context(browser, ada_session, locale=language, width=width, height=height)
                    page = ada_context.new_page()
                    for _ in range(2):
                        page.goto(f"{site}/accounts/password/change/")
                        page.fill("input[name=old_password]", "not the password 123")
                        page.fill("input[name=new_password1]", "a brand new passphrase 7")
                        page.fill("input[name=new_password2]", "a brand new passphrase 7")
                        page.click("button[type=submit].primary")
                    assert page.locator('nav[aria-label] a[href="/accounts/"]').count() == 1
                    shot(page, "password-change-throttled", words["throttled"])
                    page.goto(f"{site}/accounts/security/")
                    shot(page, "security-history", words["history"])
                    ada_context.close()

                    bob_context = signed_in_context(browser, bob_session, locale=language, width=width, height=height)
                    page = bob_context.new_page()
                    page.goto(f"{site}/accounts/email/confirm/{change_token}/")
                    shot(page, "email-change-other-account", words["other"])
                    bob_context.close()
        finally:
            browser.close()
    assert overflow == []
