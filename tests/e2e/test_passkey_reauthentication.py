"""Confirm it's you with a passkey on the re-authentication page, in a real Chromium (issue 19).

Hedy signs in with her password, registers a passkey (Chromium's virtual authenticator, as in
test_passkeys.py), and some time later (the clock moved past REAUTHENTICATION_TIMEOUT, as in
test_federation_links.py) opens a sensitive action: the re-authentication page offers "Use a passkey"
beside the password, and the passkey alone brings her to the action. Screenshots of that page in
English and German, desktop and phone, land in test-artifacts/reauth/; no page scrolls sideways.
"""

from __future__ import annotations

import time

import pytest

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import SecurityEvent
from tests.e2e.browser import Screenshots, Watch
from tests.e2e.test_passkeys import AUTHENTICATOR, launch
from tests.users import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMAIL = "hedy@example.com"
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
USE_A_PASSKEY = {"en": "Use a passkey", "de": "Passkey verwenden"}


@pytest.fixture
def site(localhost_site):
    return localhost_site


def test_confirm_with_a_passkey_on_the_reauthentication_page(sync_playwright, site, make_user, monkeypatch):
    user = make_user(EMAIL)
    shots = Screenshots("reauth")
    real_time = time.time
    offset = [0.0]
    monkeypatch.setattr(time, "time", lambda: real_time() + offset[0])
    watch = Watch(site)
    with sync_playwright() as p:
        browser = launch(p)
        try:
            context = browser.new_context(viewport=SIZES["desktop"])
            page = context.new_page()
            page.set_default_timeout(15_000)
            watch.attach(page)
            cdp = context.new_cdp_session(page)
            cdp.send("WebAuthn.enable")
            cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})

            page.goto(f"{site}/accounts/login/")
            page.get_by_label("Email address").fill(EMAIL)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in", exact=True).click()
            page.wait_for_url(f"{site}/accounts/")
            page.goto(f"{site}/accounts/security/")
            add = page.get_by_role("button", name="Add a passkey")
            add.wait_for(state="visible")
            add.click()
            page.wait_for_url(f"{site}/accounts/security/recovery-codes/")
            page.get_by_role("link", name="I have saved them").click()
            page.wait_for_url(f"{site}/accounts/security/")
            offset[0] += accounts_settings.REAUTHENTICATION_TIMEOUT + 60  # some time later

            reauth = f"{site}/accounts/reauthenticate/?next=%2Faccounts%2Femail%2F"
            for language in ("en", "de"):
                page.set_extra_http_headers({"Accept-Language": language})
                for size, viewport in SIZES.items():
                    page.set_viewport_size(viewport)
                    page.goto(reauth)
                    button = page.get_by_role("button", name=USE_A_PASSKEY[language])
                    button.wait_for(state="visible")  # shown by js/passkeys.js once it found WebAuthn
                    assert page.get_by_label("Passwort" if language == "de" else "Password").count() == 1
                    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (language, size)
                    shots(page, f"reauthenticate-{size}-{language}")
            page.set_extra_http_headers({"Accept-Language": "en"})
            page.set_viewport_size(SIZES["desktop"])

            # The sensitive action asks; the passkey alone confirms it's her and lands on the action.
            page.goto(f"{site}/accounts/email/")
            page.wait_for_url(reauth)
            page.get_by_role("button", name="Use a passkey").click()
            page.wait_for_url(f"{site}/accounts/email/")
            assert page.get_by_label("New email address").count() == 1
            shots(page, "email-change-after-the-passkey")
        finally:
            browser.close()

    assert watch.errors == []
    events = list(SecurityEvent.objects.filter(user=user).values_list("kind", "method"))
    assert [method for kind, method in events if kind == SecurityEvent.Kind.REAUTHENTICATED] == ["passkey"]
