"""The admin's sign-in provider pages in a real Chromium, 1280 wide, in English and German: adding one
starts with the choice of kind, then that kind's form with its defaults (Microsoft Entra ID here: the
only one with allowed tenants). Screenshots land in test-artifacts/federation-admin/.

The admin signs in through Django's test client (password and authenticator app, tests/users.py) and
the browser gets that session's cookie: no ORM call happens inside the `with sync_playwright()` block."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.e2e.browser import Screenshots, Watch, signed_in_context
from tests.e2e.test_passkeys import launch
from tests.users import sign_in_admin

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ADD = "/admin/federation/provider/add/"
WORDS = {
    "en": ("Add sign-in provider", "Microsoft Entra ID", "Allowed tenants", "Authority"),
    "de": ("Anmeldeanbieter hinzufügen", "Microsoft Entra ID", "Erlaubte Mandanten", "Authority"),
}


@pytest.fixture
def site(localhost_site):
    return localhost_site


@pytest.fixture(scope="module")
def snap() -> Screenshots:
    return Screenshots("federation-admin")


@pytest.mark.parametrize("language", ["en", "de"])
def test_adding_a_provider_starts_with_its_kind_then_its_form(sync_playwright, site, make_admin, snap, language):
    session = sign_in_admin(make_admin()).cookies[settings.SESSION_COOKIE_NAME].value
    title, entra, tenants, authority = WORDS[language]
    watch = Watch(site)
    with sync_playwright() as p:
        browser = launch(p)
        context = signed_in_context(browser, session, locale=language)
        page = context.new_page()
        watch.attach(page)

        page.goto(site + ADD)
        assert page.locator("h1").inner_text() == title
        assert page.locator(".federation-kinds li").count() == 4
        snap(page, f"kinds-{language}")

        page.click('[data-kind="entra"]')
        assert page.locator("h1").inner_text() == f"{title}: {entra}"
        assert tenants in page.locator("label[for=id_allowed_tenants]").inner_text()
        assert authority in page.locator("label[for=id_issuer]").inner_text()
        assert page.input_value("#id_issuer") == "https://login.microsoftonline.com/organizations/v2.0"
        snap(page, f"entra-form-{language}")
        browser.close()

    assert not watch.errors, watch.errors


def test_the_sign_in_page_shows_each_kinds_icon(sync_playwright, site, snap):
    from federation.models import Provider  # after the database is set up for this test

    for kind, name in [("google", "Google"), ("entra", "Microsoft"), ("github", "GitHub")]:
        Provider.objects.create(slug=kind, name=name, kind=kind, issuer="https://idp.example", client_id="x")
    watch = Watch(site)
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        watch.attach(page)
        page.goto(site + "/accounts/login/")
        icons = page.locator(".federation-buttons img")
        assert icons.count() == 3
        assert all(icons.nth(i).evaluate("image => image.naturalWidth > 0") for i in range(3))
        snap(page, "sign-in-buttons")
        browser.close()

    assert not watch.errors, watch.errors
