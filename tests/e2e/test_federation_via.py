"""A sign-in through a provider, as its owner sees it in Chromium: the security page's history says
"via Acme" ("über Acme" in German) beside the password sign-in, and so does the new-device mail (its
HTML part, opened as a page), at desktop (1280) and phone (390) widths. Screenshots land in
test-artifacts/federation-via/.

The sign-ins through the provider are real (the loopback provider of tests/federation/upstream.py and
Django's test client, whose host is the redirect URI registered there); the browser then signs in to
the same account with its password. No ORM call happens inside the `with sync_playwright()` block (see
test_security_page.py)."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import OutboxMail, User
from accounts.outbox import render_mail
from federation.models import Provider
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, Screenshots
from tests.federation.browsing import sign_in_through
from tests.federation.upstream import Upstream
from tests.users import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
WIDTHS = {"desktop": 1280, "phone": 390}
VIA = {"en": "via Acme", "de": "über Acme"}


@pytest.fixture
def upstream():
    server = Upstream().start()
    yield server
    server.stop()


def federated_account(upstream: Upstream, settings) -> tuple[User, OutboxMail]:
    """Grace signs up through Acme, then signs in through it from her phone (a new device: mailed)."""
    site_url, settings.SITE_URL = settings.SITE_URL, "http://testserver"  # the provider's redirect URI
    provider = Provider(
        slug=upstream.slug, name="Acme", issuer=upstream.issuer, client_id=upstream.client_id, may_create_accounts=True
    )
    provider.client_secret = upstream.client_secret
    provider.save()
    sign_in_through(Client())
    sign_in_through(Client(HTTP_USER_AGENT=IPHONE, REMOTE_ADDR="203.0.113.9"))
    settings.SITE_URL = site_url
    user = User.objects.get(email=upstream.person.email)
    user.set_password(PASSWORD)  # so that the browser can sign in to it another way too
    user.save()
    return user, OutboxMail.objects.get(kind=OutboxMail.Kind.NEW_DEVICE)


def test_the_history_and_the_new_device_mail_say_via_acme(sync_playwright, upstream, settings, site, tmp_path):
    user, row = federated_account(upstream, settings)
    mails = {}
    for language in VIA:
        row.language = language
        mails[language] = tmp_path / f"new-device-{language}.html"
        mails[language].write_text(render_mail(row).alternatives[0][0])
    shots = Screenshots("federation-via")
    seen: dict[str, str] = {}

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for language in VIA:
                for form, width in WIDTHS.items():
                    context = browser.new_context(viewport={"width": width, "height": 900}, locale=language)
                    page = context.new_page()
                    page.set_default_timeout(15_000)
                    page.goto(f"{site}/accounts/login/")
                    page.locator("input[name=email]").fill(user.email)
                    page.locator("input[name=password]").fill(PASSWORD)
                    page.locator("input[name=password]").press("Enter")
                    page.wait_for_url(f"{site}/accounts/")
                    page.goto(f"{site}/accounts/security/")
                    history = page.locator("section[aria-labelledby=history-heading]")
                    history.scroll_into_view_if_needed()
                    seen[f"history-{language}-{form}"] = history.inner_text()
                    shots(page, f"security-{language}-{form}")
                    history.screenshot(path=str(shots.folder / f"history-{language}-{form}.png"))

                    page.goto(mails[language].as_uri())
                    seen[f"mail-{language}-{form}"] = page.locator("body").inner_text()
                    shots(page, f"new-device-mail-{language}-{form}")
                    context.close()
        finally:
            browser.close()

    for name, text in seen.items():
        language = name.split("-")[1]
        assert VIA[language] in text, (name, text)
    assert "Signed in · password" in seen["history-en-desktop"], "the password sign-in says no via"
