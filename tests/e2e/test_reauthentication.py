"""Confirming it's you with a second factor, in a real Chromium (issue 13, section 2).

A person whose account holds a second factor confirms a sensitive change with that factor, not with the
password: with an authenticator app's code, and with a passkey through Chromium's virtual authenticator
(Chrome DevTools Protocol, as in test_passkeys.py). Each story starts with a password sign-in and a
factor enrolled in that very session, which proves nothing yet: the next change asks for the new factor.
The re-authentication rotates the session key, so a copy of the cookie taken before it no longer works.

No ORM call happens inside the `with sync_playwright()` block (see test_passkeys.py); users are made
before it and the audit trail is read after it. Screenshots land in test-artifacts/reauthentication/.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import pytest
from django.conf import settings

from accounts.models import SecurityEvent
from mfa.models import Passkey
from tests.e2e.browser import Screenshots, Watch
from tests.e2e.test_mfa import STEP, code_at, key_from_page
from tests.e2e.test_passkeys import AUTHENTICATOR, launch
from tests.users import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMAIL = "hedy@example.com"
Kind = SecurityEvent.Kind


@pytest.fixture
def site(localhost_site):
    return localhost_site


@pytest.fixture(scope="module")
def snap() -> Screenshots:
    return Screenshots("reauthentication")


class Browsing:
    """One page with a virtual authenticator, and the few things both stories do on it."""

    def __init__(self, browser, site: str, watch: Watch):
        self.browser = browser
        self.site = site
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        watch.attach(self.page)
        cdp = self.context.new_cdp_session(self.page)
        cdp.send("WebAuthn.enable")
        cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})

    def heading(self) -> str:
        return self.page.locator("h1").inner_text()

    def main_text(self) -> str:
        return self.page.locator("main").inner_text()

    def session_cookie(self) -> dict:
        [cookie] = [c for c in self.context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME]
        return cookie

    def works_elsewhere(self, cookie: dict) -> bool:
        """A second browser given a copy of a session cookie as it was: is it signed in?"""
        thief = self.browser.new_context()
        try:
            thief.add_cookies([cookie])
            page = thief.new_page()
            page.goto(f"{self.site}/accounts/")
            return page.url == f"{self.site}/accounts/"
        finally:
            thief.close()

    def sign_in_with_password(self) -> None:
        self.page.goto(f"{self.site}/accounts/login/")
        self.page.get_by_label("Email address").fill(EMAIL)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name="Sign in", exact=True).click()
        self.page.wait_for_url(f"{self.site}/accounts/")

    def add_authenticator_app(self) -> tuple[bytes, float]:
        """Set up an app ("Phone") and save the recovery codes; returns its key and when its code was used."""
        self.page.goto(f"{self.site}/accounts/security/")
        self.page.get_by_role("link", name="Set up an authenticator app").click()
        self.page.wait_for_url(f"{self.site}/accounts/security/totp/add/")
        key = key_from_page(self.page.locator(".secret code").inner_text())
        enrolled_at = time.time()
        self.page.get_by_label("Name this authenticator").fill("Phone")
        self.page.get_by_label("Code from the app").fill(code_at(key, enrolled_at))
        self.page.get_by_role("button", name="Turn on two-step verification").click()
        self.save_recovery_codes()
        return key, enrolled_at

    def add_passkey(self) -> None:
        self.page.goto(f"{self.site}/accounts/security/")
        add = self.page.get_by_role("button", name="Add a passkey")
        add.wait_for(state="visible")  # shown by js/passkeys.js once it found WebAuthn
        add.click()

    def save_recovery_codes(self) -> None:
        self.page.wait_for_url(f"{self.site}/accounts/security/recovery-codes/")
        assert self.heading() == "Save your recovery codes"
        self.page.get_by_role("link", name="I have saved them").click()
        self.page.wait_for_url(f"{self.site}/accounts/security/")

    def at_confirmation(self) -> None:
        self.page.wait_for_url(f"{self.site}/accounts/mfa/")
        assert self.heading() == "Confirm it's you"
        assert "your password alone is not enough here" in self.main_text()
        assert self.page.get_by_label("Password").count() == 0


@contextmanager
def browsing(sync_playwright, site: str, watch: Watch):
    with sync_playwright() as p:
        browser = launch(p)
        try:
            yield Browsing(browser, site, watch)
        finally:
            browser.close()


def test_confirm_with_an_authenticator_app_enrolled_in_this_session(sync_playwright, site, make_user, snap):
    user = make_user(EMAIL)  # verified, no second factor yet
    watch = Watch(site)
    with browsing(sync_playwright, site, watch) as b:
        page = b.page
        b.sign_in_with_password()

        # No second factor yet: the password sign-in just now is the account's highest level.
        key, enrolled_at = b.add_authenticator_app()

        # The app was only enrolled in this session, which proves nothing: adding a passkey asks for it.
        before = b.session_cookie()
        b.add_passkey()
        b.at_confirmation()
        assert "Open your authenticator app" in b.main_text()
        snap(page, "confirm-with-app")
        page.get_by_label("6-digit code").fill(code_at(key, enrolled_at + STEP))  # its next code
        page.get_by_role("button", name="Verify").click()
        page.wait_for_url(f"{site}/accounts/security/")
        assert b.session_cookie()["value"] != before["value"], "a new session key"
        assert not b.works_elsewhere(before)

        b.add_passkey()
        page.get_by_text("Your passkey was added.").wait_for()  # the page reloads with the message
        assert page.url == f"{site}/accounts/security/"
        snap(page, "passkey-added-after-confirming")

    assert watch.errors == []
    assert Passkey.objects.filter(user=user).count() == 1
    events = list(SecurityEvent.objects.filter(user=user).values_list("kind", "method"))
    assert [method for kind, method in events if kind == Kind.REAUTHENTICATED] == ["otp"]
    assert [kind for kind, _ in events].count(Kind.MFA_ADDED) == 2


def test_confirm_with_a_passkey(sync_playwright, site, make_user, snap):
    user = make_user(EMAIL)
    watch = Watch(site)
    with browsing(sync_playwright, site, watch) as b:
        page = b.page
        b.sign_in_with_password()
        b.add_passkey()
        b.save_recovery_codes()

        # Changing the email needs the account's highest level: the passkey it now holds.
        before = b.session_cookie()
        page.goto(f"{site}/accounts/email/")
        page.wait_for_url(f"{site}/accounts/reauthenticate/?next=%2Faccounts%2Femail%2F")  # asked here (issue 19)
        assert b.heading() == "Confirm it's you"
        use_passkey = page.get_by_role("button", name="Use a passkey")
        use_passkey.wait_for(state="visible")
        snap(page, "confirm-with-passkey")
        use_passkey.click()
        page.wait_for_url(f"{site}/accounts/email/")
        assert page.get_by_label("New email address").count() == 1
        snap(page, "email-change-after-confirming")
        assert b.session_cookie()["value"] != before["value"], "a new session key"
        assert not b.works_elsewhere(before)

    assert watch.errors == []
    events = list(SecurityEvent.objects.filter(user=user).values_list("kind", "method"))
    assert [method for kind, method in events if kind == Kind.REAUTHENTICATED] == ["passkey"]
    assert Passkey.objects.get(user=user).last_used_at is not None


def test_change_the_password_after_confirming_with_the_authenticator_app(sync_playwright, site, make_user, snap):
    """The password page of an account with a second factor asks for it first (a stolen session plus the
    password must not replace the password), then the form asks for the current password: once."""
    user = make_user(EMAIL)
    new_password = "a new passphrase for hedy 9"
    watch = Watch(site)
    with browsing(sync_playwright, site, watch) as b:
        page = b.page
        b.sign_in_with_password()
        key, enrolled_at = b.add_authenticator_app()

        page.goto(f"{site}/accounts/")
        page.get_by_role("link", name="Change your password").click()
        b.at_confirmation()
        snap(page, "password-change-confirm-with-app")
        page.get_by_label("6-digit code").fill(code_at(key, enrolled_at + STEP))
        page.get_by_role("button", name="Verify").click()
        page.wait_for_url(f"{site}/accounts/password/change/")
        assert b.heading() == "Change your password"
        page.get_by_label("Current password").fill(PASSWORD)
        page.get_by_label("New password", exact=True).fill(new_password)
        page.get_by_label("Confirm the new password").fill(new_password)
        snap(page, "password-change-form-after-confirming")
        page.get_by_role("button", name="Change password").click()
        page.wait_for_url(f"{site}/accounts/")
        assert "Your password has been changed." in b.main_text()

    assert watch.errors == []
    user.refresh_from_db()
    assert user.check_password(new_password)
    events = list(SecurityEvent.objects.filter(user=user).values_list("kind", "method"))
    assert [method for kind, method in events if kind == Kind.REAUTHENTICATED] == ["otp"]
    assert [kind for kind, _ in events].count(Kind.PASSWORD_CHANGED) == 1
