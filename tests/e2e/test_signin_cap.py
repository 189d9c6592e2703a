"""Past the 100-failure cap, in a real Chromium: the owner gets in with the password and the mailed code;
an attacker with a wrong password (even one reading the owner's mail) gets nowhere. The mail goes through
the outbox, Redis and a Celery worker to an SMTP server on loopback. Screenshots land in
test-artifacts/signin-cap/.

The ORM is used only before and after the Playwright block (see test_signup_signin.py for why).
"""

from __future__ import annotations

import re

import pytest

from identity import ratelimit
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, Screenshots
from tests.users import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HIGH = "1000/1000d"


def test_past_the_cap_the_owner_signs_in_with_a_mailed_code_and_the_attacker_does_not(
    sync_playwright, site, settings, user, empty_broker, smtp_sink, celery_worker
):
    settings.RATE_LIMITS = {
        **settings.RATE_LIMITS,
        "signin-ip": HIGH,
        "signin-account": HIGH,
        "signin-ip-account": HIGH,
    }
    for _ in range(100):  # the attacker's 100 failures (made through the page in tests/accounts/test_signin_cap.py)
        ratelimit.hit(("signin-account-cap", user.email))
    shots = Screenshots("signin-cap")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            attacker, owner = browser.new_context().new_page(), browser.new_context().new_page()
            for page in (attacker, owner):
                page.set_default_timeout(15_000)

            def password_step(page, password: str) -> None:
                page.goto(f"{site}/accounts/login/")
                page.get_by_label("Email address").fill(user.email)
                page.get_by_label("Password").fill(password)
                page.get_by_role("button", name="Sign in", exact=True).click()
                page.wait_for_url(f"{site}/accounts/login/code/")

            password_step(attacker, "not the right password at all")
            password_step(owner, PASSWORD)
            for page in (attacker, owner):
                text = page.locator("main").inner_text()
                assert "too many failed attempts to sign in to this account" in text
                assert "we have emailed a sign-in code" in text
            assert attacker.locator("main").inner_text() == owner.locator("main").inner_text()
            shots(owner, "code-page")

            [message] = smtp_sink.wait_for(1)
            assert str(message["To"]) == user.email
            code = re.search(r"^(\d{8})\s*$", message.get_body(preferencelist=("plain",)).get_content(), re.M).group(1)

            # Someone reading the owner's mail, with a wrong password, cannot use the code.
            attacker.get_by_label("Sign-in code").fill(code)
            attacker.get_by_role("button", name="Continue").click()
            assert "That code is not right" in attacker.locator("main").inner_text()
            shots(attacker, "attacker-refused")

            owner.get_by_label("Sign-in code").fill(code)
            owner.get_by_role("button", name="Continue").click()
            owner.wait_for_url(f"{site}/accounts/")
            assert owner.locator("h1").inner_text() == "Your account"
            shots(owner, "signed-in")
            attacker.goto(f"{site}/accounts/")
            assert attacker.url.startswith(f"{site}/accounts/login/")
        finally:
            browser.close()

    assert len(smtp_sink.messages) == 1, "the wrong password mailed nothing"
    assert ratelimit.used(("signin-account-cap", user.email)) == 0
