"""The authenticator-app setup page (otpauth:// link, labelled QR code, grouped key) and the recovery
codes it leads to (a download named for the site, account and date), in Chromium: English and German,
desktop and phone, no sideways scrolling. Screenshots in test-artifacts/devsnags/."""

from __future__ import annotations

import re
import time
from base64 import b32decode

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP

from tests.e2e.browser import Screenshots, Watch, signed_in_context
from tests.e2e.test_passkeys import launch
from tests.users import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WORDS = {
    "en": ("Open in an authenticator app on this phone", "Download", "QR code that adds Identity"),
    "de": ("In einer Authenticator-App auf diesem Telefon öffnen", "Herunterladen", "QR-Code, der Identity"),
}
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


@pytest.fixture
def site(localhost_site):
    return localhost_site


@pytest.fixture(scope="module")
def snap() -> Screenshots:
    return Screenshots("devsnags")


def code_for(key_text: str) -> str:
    b32 = re.sub(r"\s", "", key_text)
    totp = TOTP(b32decode(b32 + "=" * (-len(b32) % 8)), 30, 0, 6, 0)
    totp.time = time.time()
    return f"{totp.token():06d}"


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("language", ["en", "de"])
def test_totp_setup_and_recovery_codes_pages(sync_playwright, site, make_user, snap, language, size):
    email = f"totp-{language}-{size}@example.com"
    make_user(email)
    client = Client()
    assert client.post("/accounts/login/", {"email": email, "password": PASSWORD}).status_code == 302
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    open_link, download, qr_label = WORDS[language]
    width, height = SIZES[size]
    today = timezone.localdate().isoformat()
    watch = Watch(site)
    with sync_playwright() as p:
        browser = launch(p)
        page = signed_in_context(browser, session, locale=language, width=width, height=height).new_page()
        watch.attach(page)
        page.goto(site + "/accounts/security/totp/add/")
        link = page.locator("#totp-uri")
        assert link.inner_text() == open_link
        assert link.get_attribute("href").startswith(f"otpauth://totp/Identity%3A{email.replace('@', '%40')}?")
        assert page.locator(".qr [role=img]").get_attribute("aria-label").startswith(qr_label)
        assert page.locator(".qr figcaption").inner_text() == f"Identity: {email}"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        snap(page, f"totp-setup-{language}-{size}")

        page.fill("#id_name", "Phone")
        page.fill("#id_code", code_for(page.locator(".secret code").inner_text()))
        page.locator("form button[type=submit].primary").click()
        page.wait_for_url("**/recovery-codes/**")
        saved = page.locator("a[download]")
        assert saved.inner_text() == download
        assert (
            saved.get_attribute("download") == f"identity-recovery-codes-{email.split('@')[0]}-example.com-{today}.txt"
        )
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        snap(page, f"recovery-codes-{language}-{size}")
        browser.close()
    assert not watch.errors, watch.errors
