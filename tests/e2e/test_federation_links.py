"""Link a sign-in provider from the security page, sign in through it, confirm it's you with it and
unlink it, in a real Chromium.

The provider is the loopback OpenID Connect provider of tests/federation/upstream.py, its redirect URI
this live server's callback; Chromium goes to it and back as it would to Google. The person has a
password account whose sign-in is older than REAUTHENTICATION_TIMEOUT (the clock is moved on), so
linking sends them through "Confirm it's you" (the password) first, and unlinking later through it again,
where "Confirm with Acme" now does (a fresh sign-in there: prompt=login). Screenshots of the security
page's section and of the confirm page, at desktop and phone width, in English and German (the site
follows Accept-Language), land in test-artifacts/federation-links/.

As in test_signup_signin.py, no ORM call happens inside the `with sync_playwright()` block.
"""

from __future__ import annotations

import re
import time

import pytest

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import SecurityEvent
from federation.models import Provider, UpstreamLink
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, Screenshots
from tests.federation.upstream import Person, Upstream
from tests.users import PASSWORD

EMAIL = "dorothy@example.com"
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def upstream(site):
    server = Upstream(site=site).start()
    server.person.email = "dorothy.vaughan@acme.example"
    yield server
    server.stop()


@pytest.fixture
def provider(upstream) -> Provider:
    made = Provider(
        slug=upstream.slug, name="Acme", issuer=upstream.issuer, client_id=upstream.client_id, may_create_accounts=True
    )
    made.client_secret = upstream.client_secret
    made.save()
    return made


def test_link_sign_in_through_confirm_with_and_unlink_a_provider(
    sync_playwright, site, make_user, provider, upstream, empty_broker, monkeypatch
):
    user = make_user(EMAIL)
    shots = Screenshots("federation-links")
    real_time = time.time
    offset = [0.0]
    monkeypatch.setattr(time, "time", lambda: real_time() + offset[0])

    def later() -> None:
        """Past REAUTHENTICATION_TIMEOUT since whatever was proved last."""
        offset[0] += accounts_settings.REAUTHENTICATION_TIMEOUT + 60

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport=SIZES["desktop"]).new_page()
            page.set_default_timeout(15_000)

            def main() -> str:
                return page.locator("main").inner_text()

            def section():
                return page.locator("section.upstream-links")

            # Signed in with the password, a while ago.
            page.goto(f"{site}/accounts/login/")
            page.get_by_label("Email address").fill(EMAIL)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in", exact=True).click()
            page.wait_for_url(f"{site}/accounts/")
            later()

            # Link Acme: confirm it's you first (the password), then press it again.
            page.goto(f"{site}/accounts/security/")
            assert "Link Acme" in section().inner_text()
            section().get_by_role("button", name="Link Acme").click()
            page.wait_for_url(re.compile(re.escape(f"{site}/accounts/reauthenticate/")))
            assert "Nothing has been changed yet" in main()
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Continue").click()
            page.wait_for_url(f"{site}/accounts/security/")
            section().get_by_role("button", name="Link Acme").click()
            page.get_by_text("Acme is linked").wait_for()  # back from Acme, on the security page again
            assert page.url == f"{site}/accounts/security/"
            linked = section().inner_text()
            assert "dorothy.vaughan@acme.example" in linked and "Unlink" in linked

            # The section and the confirm page (password and "Confirm with Acme"), at both widths, in
            # English and German.
            for language in ("en", "de"):
                page.set_extra_http_headers({"Accept-Language": language})
                for size, viewport in SIZES.items():
                    page.set_viewport_size(viewport)
                    page.goto(f"{site}/accounts/security/")
                    assert ("Anmeldeanbieter" if language == "de" else "Sign-in providers") in section().inner_text()
                    section().screenshot(path=str(shots.folder / f"security-section-{size}-{language}.png"))
                    shots(page, f"security-{size}-{language}")
                    page.goto(f"{site}/accounts/reauthenticate/?next=/accounts/security/")
                    confirm = "Mit Acme bestätigen" if language == "de" else "Confirm with Acme"
                    assert page.get_by_role("button", name=confirm).is_visible()
                    shots(page, f"confirm-{size}-{language}")
            page.set_extra_http_headers({"Accept-Language": "en"})
            page.set_viewport_size(SIZES["desktop"])
            page.goto(f"{site}/accounts/")

            # Sign out, and in through Acme: the link finds the account.
            page.locator("header").get_by_role("button", name="Sign out").click()
            page.wait_for_url(f"{site}/accounts/login/")
            page.get_by_role("link", name="Continue with Acme").click()
            page.wait_for_url(f"{site}/accounts/")
            assert EMAIL in main()
            later()

            # Unlink: confirm it's you with Acme this time (a fresh sign-in there), then press it again.
            page.goto(f"{site}/accounts/security/")
            section().get_by_role("button", name="Unlink").click()
            page.wait_for_url(re.compile(re.escape(f"{site}/accounts/reauthenticate/")))
            shots(page, "confirm-before-unlink")
            page.get_by_role("button", name="Confirm with Acme").click()
            page.wait_for_url(f"{site}/accounts/security/")
            confirmation = dict(upstream.authorizations[-1])
            section().get_by_role("button", name="Unlink").click()
            page.get_by_text("Acme is unlinked").wait_for()
            assert "Link Acme" in section().inner_text()
            shots(page, "unlinked")

            # Someone whose account Acme created has no password: the confirm page offers only Acme.
            page.locator("header").get_by_role("button", name="Sign out").click()
            page.wait_for_url(f"{site}/accounts/login/")
            upstream.person = Person(subject="upstream-mary", email="mary@example.org")
            page.get_by_role("link", name="Continue with Acme").click()
            page.wait_for_url(f"{site}/accounts/")
            for language, size in (("en", "desktop"), ("de", "phone")):
                page.set_extra_http_headers({"Accept-Language": language})
                page.set_viewport_size(SIZES[size])
                page.goto(f"{site}/accounts/reauthenticate/?next=/accounts/security/")
                assert page.get_by_label("Password").count() == 0
                shots(page, f"confirm-without-password-{size}-{language}")
        except Exception:
            shots(page, "failed")  # what the test saw
            raise
        finally:
            browser.close()

    assert not UpstreamLink.objects.filter(user=user).exists()
    assert (confirmation["prompt"], confirmation["max_age"]) == ("login", "0"), "it asked for a fresh sign-in"
    kinds = list(SecurityEvent.objects.filter(user=user).order_by("at").values_list("kind", "method"))
    Event = SecurityEvent.Kind
    assert (Event.UPSTREAM_LINKED, "fed") in kinds and (Event.REAUTHENTICATED, "fed") in kinds
    assert kinds[-2:] == [(Event.UPSTREAM_UNLINKED, "fed"), (Event.SIGNED_OUT, "")]
    assert UpstreamLink.objects.get().user.email == "mary@example.org"
