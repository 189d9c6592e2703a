"""Sign up through a provider from the sign-up page, sign in again through it, and the refusal to join
an existing account on the strength of a matching address, in a real Chromium.

The provider is the loopback OpenID Connect provider of tests/federation/upstream.py. Screenshots of
the sign-up page with the provider's button and of the refusal, at desktop and phone width, in English
and German (the site follows Accept-Language), land in test-artifacts/federation-signup/.

As in test_signup_signin.py, no ORM call happens inside the `with sync_playwright()` block.
"""

from __future__ import annotations

import pytest

from accounts.models import User
from federation.models import Provider, UpstreamLink
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, Screenshots
from tests.federation.upstream import Person, Upstream
from tests.users import PASSWORD

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def upstream(site):
    server = Upstream(site=site).start()
    server.person = Person(subject="upstream-katherine", email="katherine@acme.example")
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


def test_sign_up_through_a_provider_sign_in_again_and_no_join_on_a_matching_address(
    sync_playwright, site, make_user, provider, upstream, empty_broker
):
    owner = make_user("mary@example.org")  # a password account the provider will claim an address of
    shots = Screenshots("federation-signup")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport=SIZES["desktop"]).new_page()
            page.set_default_timeout(15_000)

            def main() -> str:
                return page.locator("main").inner_text()

            def sign_out() -> None:
                page.locator("header").get_by_role("button", name="Sign out").click()
                page.wait_for_url(f"{site}/accounts/login/")

            # The sign-up page offers Acme beside the password form; choosing it creates the account.
            for language in ("en", "de"):
                page.set_extra_http_headers({"Accept-Language": language})
                for size, viewport in SIZES.items():
                    page.set_viewport_size(viewport)
                    page.goto(f"{site}/accounts/signup/")
                    button = "Weiter mit Acme" if language == "de" else "Continue with Acme"
                    assert page.get_by_role("link", name=button).is_visible()
                    shots(page, f"signup-{size}-{language}")
            page.set_extra_http_headers({"Accept-Language": "en"})
            page.set_viewport_size(SIZES["desktop"])
            page.goto(f"{site}/accounts/signup/")
            page.get_by_role("link", name="Continue with Acme").click()
            page.wait_for_url(f"{site}/accounts/")
            assert "katherine@acme.example" in main()
            shots(page, "signed-up")
            sign_out()

            # Again: the link finds the account, nothing new is made.
            page.get_by_role("link", name="Continue with Acme").click()
            page.wait_for_url(f"{site}/accounts/")
            assert "katherine@acme.example" in main()
            sign_out()

            # Someone at Acme whose verified address is that of an existing account here is not let in
            # and nothing is joined: the page says how the owner links Acme.
            upstream.person = Person(subject="upstream-someone-else", email="mary@example.org")
            for language in ("en", "de"):
                page.set_extra_http_headers({"Accept-Language": language})
                for size, viewport in SIZES.items():
                    page.set_viewport_size(viewport)
                    page.goto(f"{site}/accounts/login/")
                    page.get_by_role(
                        "link", name="Weiter mit Acme" if language == "de" else "Continue with Acme"
                    ).click()
                    page.locator("[data-refusal=email_taken]").wait_for()
                    assert page.url.startswith(f"{site}/accounts/federation/acme/callback/")
                    if language == "en":
                        assert "never joined to a provider on the strength of an address alone" in main()
                    shots(page, f"refused-{size}-{language}")
            page.set_extra_http_headers({"Accept-Language": "en"})
            page.set_viewport_size(SIZES["desktop"])

            # The owner signs in with the password as the page says, and is not signed in as anyone else.
            page.goto(f"{site}/accounts/login/")
            page.get_by_role("link", name="Continue with Acme").click()
            page.get_by_role("link", name="Sign in to that account").click()
            page.get_by_label("Email address").fill("mary@example.org")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in", exact=True).click()
            page.wait_for_url(f"{site}/accounts/security/")
        except Exception:
            shots(page, "failed")  # what the test saw
            raise
        finally:
            browser.close()

    katherine = User.objects.get(email="katherine@acme.example")
    assert not katherine.has_usable_password() and katherine.email_verified
    assert list(UpstreamLink.objects.values_list("user__email", "subject")) == [
        ("katherine@acme.example", "upstream-katherine")
    ]
    assert not UpstreamLink.objects.filter(user=owner).exists()
    assert User.objects.count() == 2
