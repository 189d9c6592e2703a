"""SAML sign-on end to end: a real pysaml2 service provider, a real Chromium, the live server.

The SP (tests/saml/service_provider.py) runs as a tiny web app in a thread on http://127.0.0.1:<port>,
loaded with the IdP metadata the live server publishes at /saml/metadata/, and registered here from its
own metadata. Identity is browsed at http://localhost:<port>: another site than the SP's, as in real
life, so cookies that a cross-site POST or redirect would not carry are not carried here either.
Chromium starts at the SP's /login, signs in at Identity, and ends on the SP's ACS page, which shows
what the response said once pysaml2 verified it (signatures, audience, recipient, InResponseTo), or
pysaml2's complaint (#error). Screenshots land in test-artifacts/saml/.

As in the other browser tests, the database is set up before the `with sync_playwright()` block and
checked after it (Playwright keeps an asyncio loop in this thread; Django refuses the ORM there). The
one change made mid-browser, an authenticator app added to a signed-in account, runs in a thread of
its own (`in_thread`).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from urllib.parse import urlencode

import pytest
import requests
from django.db import connection

from saml.flows import PASSWORD_PROTECTED, REFEDS_MFA
from saml.models import SignOn
from saml.registration import register
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, Screenshots, Watch
from tests.saml.service_provider import ServiceProvider
from tests.users import PASSWORD, add_totp, totp_code

EMAIL = "grace@example.com"
APP = "Wiki"
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
MAIL = "urn:oid:0.9.2342.19200300.100.1.3"
WINDOWS = {"wide": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(localhost_site):
    return localhost_site


@pytest.fixture(scope="module")
def snap() -> Screenshots:
    return Screenshots("saml")


@pytest.fixture
def serve_sp(site):
    """`serve_sp(name, **registration)`: a served SP, registered here (before the browser opens)."""
    answer = requests.get(f"{site}/saml/metadata/", timeout=10)
    answer.raise_for_status()
    idp_metadata = answer.text
    opened = []

    def serve(name: str = APP, **registration) -> ServiceProvider:
        serving = ServiceProvider.serve(idp_metadata=idp_metadata)
        sp = serving.__enter__()
        opened.append(serving)
        register(name, sp.metadata_xml(), **registration)
        return sp

    yield serve
    for serving in reversed(opened):
        serving.__exit__(None, None, None)


def in_thread(function, *args):
    """Run an ORM call outside Playwright's event loop, on a connection of its own."""

    def run():
        try:
            return function(*args)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


@contextmanager
def chromium(p, watch: Watch | None = None, **context_options):
    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        context = browser.new_context(**context_options)
        page = context.new_page()
        page.set_default_timeout(15_000)
        if watch:
            watch.attach(page)
        yield page
    finally:
        browser.close()


def login_url(sp: ServiceProvider, **query) -> str:
    return f"{sp.base_url}/login?{urlencode(query)}"


def heading(page) -> str:
    return page.locator("h1").first.inner_text()


def sign_in(page, password: str = PASSWORD, email: str | None = EMAIL) -> None:
    """Identity's sign-in form (in any language: fields by name), filled and sent."""
    if email is not None and page.locator("input[name=email]").is_editable():
        page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(password)
    page.locator("input[name=password]").press("Enter")


def at_signin(page, site: str) -> None:
    page.wait_for_url(re.compile("^" + re.escape(f"{site}/accounts/login/") + r"\?"))


def at_acs(page, sp: ServiceProvider) -> dict:
    """The SP's ACS page after a verified response: what it showed."""
    page.wait_for_url(f"{sp.acs_url}")
    error = page.locator("#error")
    assert error.count() == 0, error.inner_text()
    return {
        "name_id": page.locator("#name-id").inner_text(),
        "format": page.locator("#name-id-format").inner_text(),
        "context": page.locator("#authn-context").inner_text(),
        "session_index": page.locator("#session-index").inner_text(),
        "mail": page.locator(f'#attributes li[data-attribute="{MAIL}"]').all_inner_texts(),
    }


def our_errors(watch: Watch, sp: ServiceProvider) -> list[str]:
    """Console errors of Identity's pages (the SP's error page answers 400, which Chromium logs)."""
    return [error for error in watch.errors if f"({sp.base_url}/" not in error]


def acs_error(page, sp: ServiceProvider) -> str:
    page.wait_for_url(f"{sp.acs_url}")
    return page.locator("#error").inner_text()


def test_sign_on_with_redirect_and_post_force_authn_and_single_logout(
    sync_playwright, site, make_user, serve_sp, empty_broker, snap
):
    user = make_user(EMAIL)
    sp = serve_sp()
    watch = Watch(site)

    with sync_playwright() as p:
        with chromium(p, watch) as page:
            # HTTP-Redirect: the SP sends the browser to Identity, which asks for the password first.
            page.goto(login_url(sp, binding="redirect"))
            at_signin(page, site)
            snap(page, "redirect-signin")
            sign_in(page)
            redirect_answer = at_acs(page, sp)
            snap(page, "redirect-acs")

        with chromium(p, watch) as page:
            # HTTP-POST, in another browser: the SP's page posts the request, Identity asks for the password.
            page.goto(login_url(sp, binding="post"))
            at_signin(page, site)
            sign_in(page)
            post_answer = at_acs(page, sp)

            # ForceAuthn: signed in already, still asked for the password (the email is known), then answered.
            page.goto(login_url(sp, binding="redirect", force_authn="1"))
            at_signin(page, site)
            assert page.locator("input[name=password]").is_visible()
            snap(page, "force-authn-signin-again")
            sign_in(page, email=None)
            forced_answer = at_acs(page, sp)

            # Not forced: signed in, no question, straight back to the SP.
            page.goto(login_url(sp, binding="redirect"))
            at_acs(page, sp)

            # SP-initiated Single Logout (HTTP-Redirect): the SP hears a LogoutResponse; Identity's session ends.
            page.goto(f"{sp.base_url}/logout?binding=redirect")
            page.wait_for_url(re.compile("^" + re.escape(sp.slo_url)))
            assert page.locator("#logged-out").inner_text() == "Signed out"
            snap(page, "slo-sp-logged-out")
            page.goto(f"{site}/accounts/")
            at_signin(page, site)

    for answer in (redirect_answer, post_answer, forced_answer):
        assert answer["format"] == PERSISTENT
        assert answer["name_id"] and answer["name_id"] != EMAIL and EMAIL not in answer["name_id"]
        assert answer["mail"] == [EMAIL]
        assert answer["context"] == PASSWORD_PROTECTED
    # One pairwise NameID for this person at this SP, whichever binding and browser.
    assert redirect_answer["name_id"] == post_answer["name_id"] == forced_answer["name_id"]
    assert forced_answer["session_index"] != post_answer["session_index"]
    assert our_errors(watch, sp) == []
    logout = [item for item in sp.received if item.path == "/slo/"]
    assert len(logout) == 1 and logout[0].error is None and logout[0].result.in_response_to
    sign_ons = SignOn.objects.filter(user=user)
    assert sign_ons.count() == 4
    assert sign_ons.filter(ended_at__isnull=True).count() == 1  # the first browser's session still runs


def test_mfa_step_up_and_is_passive(sync_playwright, site, make_user, serve_sp, empty_broker, snap):
    user = make_user(EMAIL)
    sp = serve_sp()
    watch = Watch(site)
    devices = []

    with sync_playwright() as p, chromium(p, watch) as page:
        # IsPassive and nobody signed in: NoPassive, at the SP, without a page of ours in between.
        page.goto(login_url(sp, binding="redirect", is_passive="1"))
        passive_error = acs_error(page, sp)
        snap(page, "is-passive-no-passive")

        # Signed in with a password only (the account had no second factor yet).
        page.goto(login_url(sp, binding="redirect"))
        at_signin(page, site)
        sign_in(page)
        assert at_acs(page, sp)["context"] == PASSWORD_PROTECTED

        # Now the account has an authenticator app, and the SP asks for REFEDS MFA: a step-up.
        devices.append(in_thread(add_totp, user, "Phone"))
        page.goto(login_url(sp, binding="post", authn_context=REFEDS_MFA))
        page.wait_for_url(f"{site}/accounts/mfa/")
        snap(page, "step-up-mfa")
        page.locator("input[name=code]").fill(totp_code(devices[0]))
        page.locator("input[name=code]").press("Enter")
        mfa_answer = at_acs(page, sp)
        snap(page, "step-up-acs")

        # Asked passively again, now signed in strongly enough: answered without a question.
        page.goto(login_url(sp, binding="redirect", is_passive="1", authn_context=REFEDS_MFA))
        passive_answer = at_acs(page, sp)

    assert "NoPassive" in passive_error, passive_error
    assert mfa_answer["context"] == REFEDS_MFA
    assert passive_answer["context"] == REFEDS_MFA
    assert our_errors(watch, sp) == []


def test_single_logout_over_post_ends_the_session(sync_playwright, site, make_user, serve_sp, empty_broker):
    make_user(EMAIL)
    sp = serve_sp()

    with sync_playwright() as p, chromium(p) as page:
        page.goto(login_url(sp, binding="redirect"))
        at_signin(page, site)
        sign_in(page)
        at_acs(page, sp)
        page.goto(f"{sp.base_url}/logout?binding=post")
        page.wait_for_url(sp.slo_url)
        assert page.locator("#logged-out").count() == 1  # the SP was told "Success"
        page.goto(f"{site}/accounts/")
        page.wait_for_load_state()
        assert page.url.startswith(f"{site}/accounts/login/"), f"still signed in: {heading(page)}"


def test_not_assigned_then_back_to_the_app_with_request_denied(
    sync_playwright, site, make_user, serve_sp, empty_broker, snap
):
    make_user(EMAIL)
    sp = serve_sp(assignment_required=True)
    watch = Watch(site)

    with sync_playwright() as p, chromium(p, watch) as page:
        page.goto(login_url(sp, binding="redirect"))
        at_signin(page, site)
        sign_in(page)
        page.wait_for_url(re.compile("^" + re.escape(f"{site}/saml/sign-on/")))
        assert heading(page) == f"You don't have access to {APP}"
        assert EMAIL in page.locator("main").inner_text()
        snap(page, "not-assigned")
        page.get_by_role("button", name=f"Back to {APP}").click()
        denied = acs_error(page, sp)

    assert "RequestDenied" in denied, denied
    # The one error Chromium logs: the not-assigned page itself answers 403 Forbidden.
    assert [error for error in our_errors(watch, sp) if "status of 403" not in error] == []
    assert not SignOn.objects.exists()


def test_the_pages_a_person_sees_in_english_and_german(sync_playwright, site, make_user, serve_sp, empty_broker, snap):
    """Each SAML page of ours, wide and on a phone, in both languages, with JavaScript off so that the
    page which posts the response on can be seen (and works: its button does what the script would)."""
    make_user(EMAIL)
    sp = serve_sp()
    closed = serve_sp("Payroll", assignment_required=True)
    texts = {}

    def shoot(page, name: str, language: str) -> None:
        for window, size in WINDOWS.items():
            page.set_viewport_size(size)
            page.screenshot(path=str(snap.folder / f"saml-{name}-{language}-{window}.png"), full_page=True)
        page.set_viewport_size(WINDOWS["wide"])
        texts[name, language] = page.locator("main").inner_text()

    with sync_playwright() as p:
        for language in ("en", "de"):
            with chromium(p, locale=language, java_script_enabled=False, viewport=WINDOWS["wide"]) as page:
                page.goto(f"{site}/saml/sso/?SAMLRequest=not-a-request")
                shoot(page, "refused", language)

                page.goto(login_url(sp, binding="redirect"))
                at_signin(page, site)
                sign_in(page)
                page.wait_for_url(re.compile("^" + re.escape(f"{site}/saml/sign-on/")))
                shoot(page, "signing-in", language)
                page.locator("main form button[type=submit]").click()
                at_acs(page, sp)

                page.goto(login_url(closed, binding="redirect"))
                page.wait_for_url(re.compile("^" + re.escape(f"{site}/saml/sign-on/")))
                shoot(page, "not-assigned", language)

                page.goto(f"{site}/accounts/security/")
                shoot(page, "security", language)

                # SP-initiated logout over HTTP-POST: our page posts the LogoutResponse on.
                page.goto(f"{sp.base_url}/logout?binding=post")
                page.locator("button[type=submit]").click()
                page.wait_for_url(f"{site}/saml/slo/")
                # Posted from the SP's site, without our cookie: our page posts it once more, with it.
                shoot(page, "signing-out-post", language)
                with page.expect_navigation():
                    page.locator("main form button[type=submit]").click()
                shoot(page, "signed-out-post", language)
                page.locator("main form button[type=submit]").click()
                page.wait_for_url(sp.slo_url)
                assert page.locator("#logged-out").count() == 1

                # A LogoutResponse nobody asked for: the plain signed-out page.
                page.goto(f"{site}/saml/slo/?SAMLResponse=x")
                shoot(page, "signed-out", language)

    assert "Payroll" in texts["not-assigned", "en"] and "Wiki" in texts["signing-in", "en"]
    assert "Apps you signed in to" in texts["security", "en"] and "Wiki" in texts["security", "en"]
    for (name, language), text in texts.items():
        if language == "de":
            assert text != texts[name, "en"], f"the {name} page is not in German:\n{text}"
