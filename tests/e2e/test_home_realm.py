"""Home-realm discovery in a real Chromium: an address of a bound domain typed on the sign-in page goes
to the loopback provider (tests/federation/upstream.py) and comes back signed in. And screenshots of
every page the realm work changed, at desktop and phone widths, in English and German, into
/work/screens/realm/ (test-artifacts/realm/ when that folder is not there).

As in test_signup_signin.py, the ORM is used only before and after Playwright's block."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core import signing

from accounts.models import User
from federation.models import Provider, UpstreamLink
from federation.verify import BROWSER_COOKIE, TOKEN_SALT, _browser_hash
from identity.cookies import cookie_name
from tests.e2e.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, Watch
from tests.federation.upstream import Upstream
from tests.users import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENS = Path("/work/screens/realm") if Path("/work/screens/realm").is_dir() else ARTIFACTS / "realm"
WIDTHS = {"desktop": 1280, "phone": 390}
LANGUAGES = {"en": "en-GB", "de": "de-DE"}


@pytest.fixture
def acme(localhost_site):
    """The loopback provider, redirecting to the live server, and example.org bound to it."""
    server = Upstream(site=localhost_site).start()
    provider = Provider(
        slug=server.slug,
        name="Acme",
        issuer=server.issuer,
        client_id=server.client_id,
        may_create_accounts=True,
        bound_domains="example.org",
    )
    provider.client_secret = server.client_secret
    provider.save()
    yield server
    server.stop()


def launch(p):
    return p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def test_an_address_of_a_bound_domain_signs_in_at_its_provider(sync_playwright, localhost_site, acme):
    site = localhost_site
    watch = Watch(site)
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(15_000)
            watch.attach(page)
            page.goto(f"{site}/accounts/login/?next=/accounts/security/")
            page.get_by_label("Email address").fill("grace@example.org")
            # The page's script asks for the domain and says where the person goes, before any password.
            hint = page.locator("[data-realm-hint]")
            hint.wait_for(state="visible")
            assert hint.inner_text() == "You will continue with Acme, where your organisation signs you in."
            assert page.get_by_label("Password").is_hidden()
            page.get_by_role("button", name="Sign in with Acme").click()
            page.wait_for_url(f"{site}/accounts/security/")
            assert page.locator("h1").inner_text()
        finally:
            browser.close()

    assert not watch.errors, watch.errors
    [asked] = acme.authorizations
    assert asked["login_hint"] == "grace@example.org"
    grace = User.objects.get(email="grace@example.org")
    assert UpstreamLink.objects.filter(user=grace, provider__slug="acme").exists()


def test_an_existing_password_account_of_a_bound_domain_signs_in_with_its_password_after_the_refusal(
    sync_playwright, localhost_site, acme, make_user
):
    """Acme vouches for grace@example.org, whose account was made with a password: nothing is signed in
    or linked; the refusal's "Sign in with your password" lets this browser use the password for that
    address (the page's script leaves the field shown), and the person lands on the security page."""
    grace = make_user("grace@example.org")
    site = localhost_site
    watch = Watch(site)
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(15_000)
            watch.attach(page)
            page.goto(f"{site}/accounts/login/?next=/accounts/security/")
            page.get_by_label("Email address").fill("grace@example.org")
            page.locator("[data-realm-hint]").wait_for(state="visible")
            page.get_by_role("button", name="Sign in with Acme").click()
            page.locator('[data-refusal="email_taken"]').wait_for()
            SCREENS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENS / "password-way-refused-en-desktop.png"), full_page=True)
            page.get_by_role("link", name="Sign in with your password").click()
            page.wait_for_url(f"{site}/accounts/login/?next=/accounts/security/")
            assert page.get_by_label("Email address").input_value() == "grace@example.org"
            page.locator("[data-password-address]").wait_for()
            # The script leaves the password be for this address (had it hidden the field, the fill
            # would wait for it in vain, or the post would lack it).
            assert page.locator("[data-realm-hint]").is_hidden()
            page.screenshot(path=str(SCREENS / "password-way-signin-en-desktop.png"), full_page=True)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in", exact=True).click()
            page.wait_for_url(f"{site}/accounts/security/")
            # Another browser, the same address: still sent to Acme.
            other = browser.new_context().new_page()
            other.goto(f"{site}/accounts/login/")
            other.get_by_label("Email address").fill("grace@example.org")
            other.locator("[data-realm-hint]").wait_for(state="visible")
        finally:
            browser.close()

    unexpected = [error for error in watch.errors if "the server responded with a status of 409" not in error]
    assert not unexpected, unexpected
    assert not UpstreamLink.objects.filter(user=grace).exists()  # linking is the security page's button


def _confirm_token(acme: Upstream, n: str, browser_hash: str) -> str:
    facts = {"provider": "acme", "iss": acme.issuer, "sub": f"screens-{n}", "email": f"new{n}@example.org"}
    facts |= {"next": "", "browser": browser_hash, "jti": f"screens-{n}"}
    return signing.dumps(facts, salt=TOKEN_SALT, compress=True)


def _browser_secret(page) -> str:
    """The secret the callback's cookie gave this browser (the test holds the signing key)."""
    [value] = [cookie["value"] for cookie in page.context.cookies() if cookie["name"] == cookie_name(BROWSER_COOKIE)]
    return signing.loads(value, salt="federation.verify-browser-cookie")


def _visit_the_changed_pages(page, site: str, acme: Upstream, n: str, shot) -> None:
    page.goto(f"{site}/accounts/login/")
    page.locator('input[name="email"]').fill("grace@example.org")
    page.locator("[data-realm-hint]").wait_for(state="visible")
    shot("signin-bound")
    # The page the form's answer is (it moves on at once): held by answering the start with a 204,
    # which leaves a browser on the page it was on.
    start = re.compile(r".*/accounts/federation/acme/\?.*")
    page.route(start, lambda route: route.fulfill(status=204))
    with page.expect_request(start):  # the page's refresh has asked for the provider's start
        page.locator('form[data-realm-form] button[type="submit"]').click()
    page.locator("[data-realm-continue]").wait_for()
    shot("signin-continue")
    page.unroute(start)

    page.goto(f"{site}/accounts/signup/")
    page.locator('input[name="email"]').fill("grace@example.org")
    page.locator('input[name="password"]').fill("a long enough password 1")
    page.locator('main form button[type="submit"]').click()
    page.locator("[data-realm]").wait_for()
    shot("signup-bound")

    page.goto(f"{site}/accounts/password/reset/")
    page.locator('input[name="email"]').fill("grace@example.org")
    page.locator('main form button[type="submit"]').click()
    page.locator("[data-realm]").wait_for()
    shot("reset-bound")

    # A link opened in a browser that did not come back from Acme: no button.
    page.goto(f"{site}/accounts/federation/verify/{_confirm_token(acme, f'{n}a', 'another browser')}/")
    page.wait_for_url(f"{site}/accounts/federation/verify/confirm/")
    page.locator('[data-verify="elsewhere"]').wait_for()
    shot("verify-elsewhere")
    # Acme (its address unverified) sends this browser back: the callback sets its cookie.
    acme.person.email = f"new{n}@example.org"
    page.goto(f"{site}/accounts/federation/acme/")
    page.wait_for_url(f"{site}/accounts/federation/verify/sent/?provider=acme")
    shot("verify-sent")
    token = _confirm_token(acme, f"{n}b", _browser_hash(_browser_secret(page)))
    page.goto(f"{site}/accounts/federation/verify/{token}/")
    page.wait_for_url(f"{site}/accounts/federation/verify/confirm/")
    page.locator('main form button[type="submit"]').wait_for()
    shot("verify-confirm")

    page.goto(f"{site}/accounts/federation/verify/junk-token/")
    shot("verify-invalid")

    page.goto(f"{site}/accounts/login/")
    page.locator('input[name="email"]').fill("ada@example.com")
    page.locator('input[name="password"]').fill(PASSWORD)
    page.locator('form[data-realm-form] button[type="submit"]').click()
    page.wait_for_url(re.compile(re.escape(site) + r"/accounts/$"))
    page.goto(f"{site}/accounts/email/")
    page.locator('input[name="email"]').fill("ada@example.org")
    page.locator('main form button[type="submit"]').click()
    page.locator(".field-errors").wait_for()
    shot("email-change-bound")


def test_screenshots_of_the_changed_pages(sync_playwright, localhost_site, acme, make_user):
    site = localhost_site
    SCREENS.mkdir(parents=True, exist_ok=True)
    make_user("ada@example.com")
    acme.person.email_verified = None
    watch = Watch(site)
    with sync_playwright() as p:
        browser = launch(p)
        try:
            for language, locale in LANGUAGES.items():
                for size, width in WIDTHS.items():
                    context = browser.new_context(locale=locale, viewport={"width": width, "height": 900})
                    page = context.new_page()
                    page.set_default_timeout(15_000)
                    watch.attach(page)
                    suffix = f"{language}-{size}"

                    def shot(name: str, page=page, suffix=suffix) -> None:
                        page.screenshot(path=str(SCREENS / f"{name}-{suffix}.png"), full_page=True)

                    _visit_the_changed_pages(page, site, acme, suffix, shot)
                    context.close()
        finally:
            browser.close()

    # The refused forms and the junk link answer 400, which Chromium logs: nothing else may be logged.
    unexpected = [error for error in watch.errors if "the server responded with a status of 400" not in error]
    assert not unexpected, unexpected
    assert len(list(SCREENS.glob("*.png"))) >= 36
