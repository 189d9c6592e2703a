"""Passkeys for real, in a real Chromium with a virtual authenticator (Chrome DevTools Protocol).

One person registers a passkey on the security page (after a password sign-in), then signs in with it:
with the "Sign in with a passkey" button, through the email field's autofill (conditional mediation),
and as the second step after the password. Then the passkey is renamed (after confirming it's
her with the passkey: her account holds one, so the password alone will not do) and removed. A second
test opens a browser without WebAuthn: no passkey button, no error. The last two tests (strict xfails)
pin bugs these runs showed.

The virtual authenticator (CTAP2, internal transport, resident keys, user verification always
succeeding, presence simulated) lives in the page's tab, so one page is used throughout. WebAuthn needs
a domain as relying party id, so the site is browsed at http://localhost:<port> and the relying party is
"localhost". Screenshots of each step land in test-artifacts/passkeys/.

Chromium's virtual authenticator, with presence simulated, answers every WebAuthn request at once,
including the conditional (autofill) request the sign-in page makes as it loads: headless Chromium shows
no autofill dropdown, so no focus or click is needed, or possible. The test therefore turns presence
simulation off while it is on a page whose passkey should not be used yet, and on for the one step
that should use it; with presence off, a request simply stays pending.

As in the other browser tests, no ORM call happens inside the `with sync_playwright()` block (Playwright
keeps an asyncio loop running in this thread, and Django would refuse): the user is created before it and
the database is checked after it. Changing Django settings there is fine (no database involved).
"""

from __future__ import annotations

import os
import re

import pytest

from accounts.models import SecurityEvent
from mfa import recovery
from mfa.models import Passkey, RecoveryCode
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, Screenshots, Watch
from tests.users import PASSWORD

EMAIL = "katherine@example.com"
PASSKEY_NAME = "Test laptop"
NEW_NAME = "Work laptop"
AUTHENTICATOR = {
    "protocol": "ctap2",
    "transport": "internal",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(localhost_site):
    return localhost_site


@pytest.fixture(scope="module")
def snap() -> Screenshots:
    return Screenshots("passkeys")


OPTIONS = "/accounts/passkeys/signin/options/"
SIGNIN = "/accounts/passkeys/signin/"


def launch(p):
    return p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def stored_passkey(user, name: str = "Phone") -> Passkey:
    """A passkey row as a registration leaves it (its key is never used by these checks)."""
    return Passkey.objects.create(
        user=user, user_handle=os.urandom(32), credential_id=os.urandom(32), public_key=b"\xa5", name=name
    )


def test_register_a_passkey_then_sign_in_with_it_every_way_then_rename_and_remove_it(
    sync_playwright, site, make_user, settings, snap
):
    user = make_user(EMAIL)  # verified, no second factor; created before the browser opens
    watch = Watch(site)

    with sync_playwright() as p:
        browser = launch(p)
        try:
            context = browser.new_context()
            page = context.new_page()
            page.set_default_timeout(15_000)
            watch.attach(page)
            cdp = context.new_cdp_session(page)
            cdp.send("WebAuthn.enable")
            authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})["authenticatorId"]

            def presence(on: bool) -> None:
                """With presence simulated, Chromium's virtual authenticator answers every request at
                once, the sign-in page's autofill (conditional) request too, without any focus or click.
                So it is on only for the step that should use the passkey."""
                cdp.send("WebAuthn.setAutomaticPresenceSimulation", {"authenticatorId": authenticator, "enabled": on})

            def credentials() -> list[dict]:
                return cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]

            def heading() -> str:
                return page.locator("h1").inner_text()

            def main_text() -> str:
                return page.locator("main").inner_text()

            def passkey_rows():
                return page.locator("section[aria-labelledby=passkeys-heading] li.row")

            def signin_page_loaded(action) -> int:
                """Run `action`, which lands on the sign-in page; return once the page's script has
                asked for the autofill options (on load, before anything is touched)."""
                since = watch.mark()
                with page.expect_response(f"{site}{OPTIONS}"):
                    action()
                assert page.url == f"{site}/accounts/login/"
                assert watch.posts(OPTIONS, since) == 1
                return since

            def fill_password() -> None:
                page.get_by_label("Email address").fill(EMAIL)
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in", exact=True).click()

            def sign_out() -> int:
                since = signin_page_loaded(
                    lambda: page.locator("header").get_by_role("button", name="Sign out").click()
                )
                assert "You have signed out." in main_text()
                return since

            presence(False)

            # 1. Password sign-in; the account page offers a passkey, once.
            signin_page_loaded(lambda: page.goto(f"{site}/accounts/login/"))
            fill_password()
            page.wait_for_url(f"{site}/accounts/")
            assert heading() == "Your account"
            assert "Sign in faster with a passkey" in main_text()
            snap(page, "signed-in-offer")
            page.locator("aside.offer").get_by_role("link", name="Add a passkey").click()
            page.wait_for_url(f"{site}/accounts/security/#passkeys-heading")
            assert heading() == "Security"
            assert passkey_rows().count() == 0
            add = page.get_by_role("button", name="Add a passkey")
            add.wait_for(state="visible")  # shown by js/passkeys.js once it found WebAuthn
            page.get_by_label("Name (optional)").fill(PASSKEY_NAME)
            snap(page, "security-before-passkey")
            presence(True)
            add.click()

            # The first second factor: recovery codes, shown once.
            page.wait_for_url(f"{site}/accounts/security/recovery-codes/")
            presence(False)
            assert heading() == "Save your recovery codes"
            assert "Your passkey was added." in main_text()
            codes = page.locator("#recovery-codes code").all_inner_texts()
            assert len(codes) == 10 and len(set(codes)) == 10
            snap(page, "recovery-codes")
            page.get_by_role("link", name="I have saved them").click()
            page.wait_for_url(f"{site}/accounts/security/")
            assert passkey_rows().count() == 1
            row = passkey_rows().first
            assert row.locator("strong").inner_text() == PASSKEY_NAME
            row_text = row.inner_text()
            # Chromium's virtual authenticator does not claim backup eligibility: a device-bound passkey.
            assert "On one device" in row_text and "Synced passkey" not in row_text, row_text
            assert "last used" not in row_text
            snap(page, "security-with-passkey")

            [credential] = credentials()
            assert credential["isResidentCredential"] is True  # discoverable: usable without an email
            assert credential["rpId"] == "localhost"
            assert credential["userName"] == EMAIL
            assert credential["signCount"] == 1

            # 2. The button signs in alone: no password, no second step.
            since = sign_out()
            button = page.get_by_role("button", name="Sign in with a passkey")
            button.wait_for(state="visible")
            assert page.locator("[data-passkey-status]").is_hidden()
            snap(page, "signin-passkey-button")
            presence(True)
            button.click()
            page.wait_for_url(f"{site}/accounts/")
            presence(False)
            assert heading() == "Your account"
            assert "Sign in faster with a passkey" not in main_text()  # offered once
            snap(page, "signed-in-with-passkey-button")
            assert watch.posts(OPTIONS, since) == 2  # the autofill request on load, then the button's
            assert watch.posts(SIGNIN, since) == 1
            assert watch.posts("/accounts/login/", since) == 0 and watch.posts("/accounts/mfa/", since) == 0

            # 3. Autofill (conditional mediation). The page asks as it loads; a browser shows the passkey
            # among the email field's suggestions. The virtual authenticator picks it by itself, at once.
            sign_out()
            email_input = page.get_by_label("Email address")
            assert email_input.get_attribute("autocomplete") == "username webauthn"
            presence(True)
            since = watch.mark()
            page.reload(wait_until="commit")  # its request is answered by the authenticator: no click, no typing
            page.wait_for_url(f"{site}/accounts/")
            presence(False)
            assert heading() == "Your account"
            snap(page, "signed-in-with-autofill")
            assert watch.posts(OPTIONS, since) == 1  # the conditional request; no button was pressed
            assert watch.posts(SIGNIN, since) == 1
            assert watch.posts("/accounts/login/", since) == 0

            # 4. The passkey as the second step after the password.
            sign_out()
            fill_password()
            page.wait_for_url(f"{site}/accounts/mfa/")
            assert heading() == "Two-step verification"
            use_passkey = page.get_by_role("button", name="Use a passkey")
            use_passkey.wait_for(state="visible")
            snap(page, "mfa-challenge")
            presence(True)
            since = watch.mark()
            use_passkey.click()
            page.wait_for_url(f"{site}/accounts/")
            presence(False)
            assert heading() == "Your account"
            snap(page, "signed-in-with-password-and-passkey")
            assert watch.posts(OPTIONS, since) == 1 and watch.posts(SIGNIN, since) == 1
            assert [c["signCount"] for c in credentials()] == [4]  # registration and three sign-ins

            # 5. Rename, after confirming it's her (forced: the sign-in just now would count as recent). The
            # account holds a passkey, so the password alone will not do: the passkey confirms.
            page.goto(f"{site}/accounts/security/")
            row = passkey_rows().first
            assert "last used" in row.inner_text()
            snap(page, "security-passkey-used")
            row.get_by_label("New name").fill(NEW_NAME)
            settings.REAUTHENTICATION_TIMEOUT = -1
            row.get_by_role("button", name="Rename").click()
            page.wait_for_url(f"{site}/accounts/reauthenticate/?next=%2Faccounts%2Fsecurity%2F")  # issue 19
            settings.REAUTHENTICATION_TIMEOUT = 600
            assert heading() == "Confirm it's you"
            use_passkey = page.get_by_role("button", name="Use a passkey")
            use_passkey.wait_for(state="visible")
            snap(page, "reauthenticate")
            presence(True)
            use_passkey.click()
            page.wait_for_url(f"{site}/accounts/security/")
            presence(False)
            # The POST is not replayed: the old name is still there; rename again.
            row = passkey_rows().first
            assert row.locator("strong").inner_text() == PASSKEY_NAME
            row.get_by_label("New name").fill(NEW_NAME)
            row.get_by_role("button", name="Rename").click()
            page.wait_for_url(f"{site}/accounts/security/")
            assert "The passkey was renamed." in main_text()
            assert passkey_rows().count() == 1
            assert passkey_rows().first.locator("strong").inner_text() == NEW_NAME
            snap(page, "passkey-renamed")

            # ... and remove it.
            passkey_rows().first.get_by_role("button", name="Remove").click()
            page.wait_for_url(re.compile(r".*/accounts/security/passkeys/\d+/remove/\??$"))
            assert f"Remove the passkey “{NEW_NAME}”?" in main_text()
            page.get_by_role("button", name="Remove the passkey").click()
            page.wait_for_url(f"{site}/accounts/security/")
            assert "The passkey was removed." in main_text()
            assert passkey_rows().count() == 0
            assert page.get_by_role("button", name="Add a passkey").is_visible()
            snap(page, "passkey-removed")
            # The site forgot it, and told the browser (WebAuthn Signal API, signalAllAcceptedCredentials on
            # the security page): Chromium's authenticator no longer holds it either.
            for _ in range(50):
                if not credentials():
                    break
                page.wait_for_timeout(100)
            assert credentials() == []
        finally:
            browser.close()

    assert watch.errors == []
    assert [url for _, url in watch.requests if not url.startswith(f"{site}/")] == []  # all from this site

    # Only now, with Playwright's loop gone, may this thread use the ORM.
    assert not Passkey.objects.filter(user=user).exists()
    assert not RecoveryCode.objects.filter(user=user).exists()  # discarded with the last second factor
    events = list(SecurityEvent.objects.filter(user=user).order_by("at", "pk").values_list("kind", "method"))
    kinds = [kind for kind, _ in events]
    Kind = SecurityEvent.Kind
    assert kinds.count(Kind.MFA_ADDED) == 1
    assert kinds.count(Kind.RECOVERY_CODES_GENERATED) == 1  # with the first passkey, as with a first app
    assert kinds.index(Kind.MFA_ADDED) < kinds.index(Kind.RECOVERY_CODES_GENERATED)
    assert kinds.count(Kind.MFA_REMOVED) == 1
    assert kinds.index(Kind.MFA_ADDED) < kinds.index(Kind.MFA_REMOVED)
    assert [method for kind, method in events if kind == Kind.MFA_VERIFIED] == ["passkey"]
    assert [method for kind, method in events if kind == Kind.REAUTHENTICATED] == ["passkey"]
    assert [method for kind, method in events if kind == Kind.SIGNIN_SUCCEEDED] == [
        "pwd",  # 1
        "passkey",  # 2, the button
        "passkey",  # 3, autofill
        "pwd+passkey",  # 4
    ]
    assert kinds.count(Kind.PASSKEY_RENAMED) == 1
    assert Kind.SIGNIN_FAILED not in kinds


def test_a_browser_without_webauthn_is_offered_no_passkey_and_told_it_cannot_make_one(
    sync_playwright, site, make_user, snap
):
    """`delete window.PublicKeyCredential` before any page script: the sign-in page shows no passkey
    button (and asks for no options), the security page says passkeys cannot be made here, and a person
    whose only second factor is a passkey is told so at the second step, with recovery codes left to use."""
    plain = make_user(EMAIL)
    with_passkey = make_user("dorothy@example.com")
    stored_passkey(with_passkey)  # registered elsewhere; this browser cannot use it
    recovery.generate(with_passkey)
    watch = Watch(site)

    with sync_playwright() as p:
        browser = launch(p)
        try:
            context = browser.new_context()
            context.add_init_script("delete window.PublicKeyCredential")
            page = context.new_page()
            page.set_default_timeout(15_000)
            watch.attach(page)

            def sign_in_with_password(email: str, shot: str) -> None:
                page.goto(f"{site}/accounts/login/")
                page.wait_for_load_state("networkidle")  # js/passkeys.js has run
                assert page.evaluate("typeof window.PublicKeyCredential") == "undefined"
                assert page.get_by_role("button", name="Sign in with a passkey").count() == 0  # hidden
                assert page.locator("[data-passkey-signin]").is_hidden()
                assert page.get_by_text("or", exact=True).is_hidden()
                page.get_by_label("Email address").fill(email)
                page.get_by_label("Password").fill(PASSWORD)
                snap(page, shot)
                page.get_by_role("button", name="Sign in", exact=True).click()

            sign_in_with_password(EMAIL, "nowebauthn-signin")
            page.wait_for_url(f"{site}/accounts/")
            page.goto(f"{site}/accounts/security/")
            page.wait_for_load_state("networkidle")
            status = page.locator("[data-passkey-register] [data-passkey-status]")
            assert status.is_visible()
            assert status.inner_text() == "This browser cannot create passkeys."
            assert page.get_by_role("button", name="Add a passkey").count() == 0
            snap(page, "nowebauthn-security")
            page.locator("header").get_by_role("button", name="Sign out").click()
            page.wait_for_url(f"{site}/accounts/login/")

            # Someone whose second factor is a passkey: told this browser cannot use it; recovery codes remain.
            sign_in_with_password("dorothy@example.com", "nowebauthn-signin-passkey-owner")
            page.wait_for_url(f"{site}/accounts/mfa/")
            page.wait_for_load_state("networkidle")
            assert page.get_by_role("button", name="Use a passkey").count() == 0
            assert page.locator("[data-passkey-status]").inner_text() == "This browser cannot use passkeys."
            assert page.get_by_role("link", name="Use a recovery code").is_visible()
            snap(page, "nowebauthn-mfa-challenge")
        finally:
            browser.close()

    assert watch.errors == []
    assert watch.posts(OPTIONS) == 0 and watch.posts("/accounts/passkeys/register/options/") == 0
    assert not Passkey.objects.filter(user=plain).exists()


def test_security_page_title_is_plain_text(signed_in_client):
    """Found in the rendered page; checked without a browser, as the template alone is the cause."""
    html = signed_in_client.get("/accounts/security/").content.decode()
    title = re.search(r"<title>(.*?)</title>", html, re.S)
    assert title and "<" not in title.group(1), title


def test_passkey_only_security_page_shows_recovery_codes(user, signed_in_client):
    """Seen in test-artifacts/passkeys/04-security-with-passkey.png; checked without a browser."""
    stored_passkey(user)
    recovery.generate(user)
    html = signed_in_client.get("/accounts/security/").content.decode()
    assert "10 recovery codes left." in html
    assert "Generate new recovery codes" in html
