"""The whole story of an intruder who knows the password, in a real Chromium.

The attacker signs in with the owner's password (the account has no second factor) and adds a passkey of
their own (Chromium's virtual authenticator, through the Chrome DevTools Protocol). The owner's own
password sign-in now asks for that passkey: they are stuck. The mail about the new passkey carries a
"This wasn't me" link; the owner follows it without signing in and confirms with one click. The attacker
is signed out, their passkey no longer signs in, the old password is refused; the owner resets the
password from the mail and signs in with no second factor asked.

Mail goes through the outbox, Redis and a Celery worker to an SMTP server on loopback. As in the other
browser tests, no ORM call happens inside the `with sync_playwright()` block. Screenshots land in
test-artifacts/intruder-eviction/.
"""

from __future__ import annotations

import re

import pytest

from accounts.models import CredentialEvent, SecurityEvent, User
from accounts.sessions import user_sessions
from mfa.models import Passkey
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, Screenshots
from tests.e2e.test_passkeys import AUTHENTICATOR as PASSKEY_AUTHENTICATOR
from tests.users import PASSWORD

EMAIL = "grace@example.com"
NEW_PASSWORD = "grace's brand new passphrase 4"
OWNER_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
ATTACKER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
AUTHENTICATOR = {**PASSKEY_AUTHENTICATOR, "automaticPresenceSimulation": False}  # on only for passkey steps

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(localhost_site):
    return localhost_site


def plain(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def mail_about(messages, subject: str):
    [found] = [m for m in messages if str(m["Subject"]) == f"Identity: {subject}"]
    return found


def test_the_owner_evicts_an_intruder_who_added_a_passkey_and_gets_back_in(
    sync_playwright, site, make_user, empty_broker, smtp_sink, celery_worker
):
    user = make_user(EMAIL)  # verified, no second factor; created before the browser opens
    snap = Screenshots("intruder-eviction")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            owner = browser.new_context(user_agent=OWNER_UA).new_page()
            attacker = browser.new_context(user_agent=ATTACKER_UA).new_page()
            for page in (owner, attacker):
                page.set_default_timeout(15_000)
            cdp = attacker.context.new_cdp_session(attacker)
            cdp.send("WebAuthn.enable")
            authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})["authenticatorId"]

            def presence(on: bool) -> None:
                """Only the step that should use the passkey lets the authenticator answer."""
                cdp.send("WebAuthn.setAutomaticPresenceSimulation", {"authenticatorId": authenticator, "enabled": on})

            def password_signin(page, password: str = PASSWORD) -> None:
                page.goto(f"{site}/accounts/login/")
                page.get_by_label("Email address").fill(EMAIL)
                page.get_by_label("Password").fill(password)
                page.get_by_role("button", name="Sign in", exact=True).click()

            def main(page) -> str:
                return page.locator("main").inner_text()

            # The owner's laptop is the account's first browser; they sign out again.
            password_signin(owner)
            owner.wait_for_url(f"{site}/accounts/")
            owner.locator("header").get_by_role("button", name="Sign out").click()
            owner.wait_for_url(re.compile(re.escape(f"{site}/accounts/login/")))

            # The attacker signs in with the password and adds a passkey of their own.
            password_signin(attacker)
            attacker.wait_for_url(f"{site}/accounts/")
            attacker.goto(f"{site}/accounts/security/")
            add = attacker.get_by_role("button", name="Add a passkey")
            add.wait_for(state="visible")
            attacker.get_by_label("Name (optional)").fill("Not Grace's")
            presence(True)
            add.click()
            attacker.wait_for_url(f"{site}/accounts/security/recovery-codes/")
            presence(False)
            snap(attacker, "attacker-added-a-passkey")

            # The owner is stuck: their password sign-in asks for the attacker's passkey.
            password_signin(owner)
            owner.wait_for_url(f"{site}/accounts/mfa/")
            assert owner.locator("h1").inner_text() == "Two-step verification"
            snap(owner, "owner-asked-for-the-attackers-passkey")

            # The mail about the new passkey (and the one about the new browser) came to the owner.
            messages = smtp_sink.wait_for(2)
            told = mail_about(messages, "Two-step verification changed")
            assert "A passkey was added to your account" in plain(told)
            link = re.search(re.escape(site) + r"/accounts/not-me/[^\s]+/", plain(told)).group(0)
            assert link in told.get_body(preferencelist=("html",)).get_content()

            # The owner follows it, not signed in, and confirms with one click.
            owner.goto(link)
            owner.wait_for_url(f"{site}/accounts/not-me/confirm/")
            assert owner.locator("h1").inner_text() == "This wasn't me"
            assert "remove the second factor that was added" in main(owner)
            assert "A passkey was added" in main(owner) and "Your other passkeys" in main(owner)
            snap(owner, "not-me-confirm")
            owner.get_by_role("button", name="Secure my account").click()
            owner.wait_for_url(f"{site}/accounts/not-me/done/")
            assert "signed everyone out, everywhere. Your old password no longer works" in main(owner)
            snap(owner, "not-me-done")

            # The attacker is out, their passkey no longer signs in, the old password is refused.
            attacker.goto(f"{site}/accounts/security/")
            attacker.wait_for_url(re.compile(re.escape(f"{site}/accounts/login/?next=")))
            button = attacker.get_by_role("button", name="Sign in with a passkey")
            button.wait_for(state="visible")
            presence(True)
            button.click()
            status = attacker.locator("[data-passkey-status]")
            status.wait_for(state="visible")
            presence(False)
            assert "This passkey cannot sign in to this account." in status.inner_text()
            assert attacker.url.startswith(f"{site}/accounts/login/")
            password_signin(attacker)
            attacker.wait_for_load_state()
            assert "do not match an account" in main(attacker)
            snap(attacker, "attacker-locked-out")

            # The owner resets the password from the mailed link and signs in: no factor is asked for.
            reset = mail_about(smtp_sink.wait_for(3), "Reset your password")
            assert "your old password no longer works" in plain(reset)
            owner.goto(re.search(re.escape(site) + r"/accounts/password/reset/[^\s]+/", plain(reset)).group(0))
            owner.wait_for_url(re.compile(r".*/set-password/$"))
            owner.locator("input[name=new_password1]").fill(NEW_PASSWORD)
            owner.locator("input[name=new_password2]").fill(NEW_PASSWORD)
            owner.get_by_role("button", name="Set new password").click()
            owner.wait_for_url(f"{site}/accounts/login/")
            password_signin(owner, NEW_PASSWORD)
            owner.wait_for_url(f"{site}/accounts/")
            assert owner.locator("h1").inner_text() == "Your account"
            snap(owner, "owner-back-in")
        finally:
            browser.close()

    # Only now, with Playwright's loop gone, may this thread use the ORM.
    assert not Passkey.objects.filter(user=user).exists()
    assert CredentialEvent.objects.filter(user=user, used_at__isnull=False).count() == 2  # the new browser too
    assert SecurityEvent.objects.filter(user=user, kind=SecurityEvent.Kind.NOT_ME).count() == 1
    assert User.objects.get(pk=user.pk).check_password(NEW_PASSWORD)
    assert len(user_sessions(user.pk)) == 1  # the owner's, after the reset
