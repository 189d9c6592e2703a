"""Past 100 wrong authenticator-app codes, in a real Chromium: the right app code is refused with a
page that says what to do, and the owner gets in with a recovery code, which lifts the cap. Screenshots
land in test-artifacts/mfa-code-cap/.

The ORM is used only before and after the Playwright block (see test_signup_signin.py for why).
"""

from __future__ import annotations

import pytest

from identity import ratelimit
from mfa import recovery
from mfa.base import code_cap
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, Screenshots
from tests.users import PASSWORD, add_totp, totp_code

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CAPPED = "codes from an authenticator app are no longer accepted for this account"


def test_past_the_code_cap_the_app_is_refused_and_a_recovery_code_gets_the_owner_in(sync_playwright, site, user):
    device = add_totp(user)
    [code, *_] = recovery.generate(user)
    for _ in range(100):  # the password thief's 100 wrong codes (made through the page in tests/mfa/test_code_cap.py)
        ratelimit.hit(code_cap(user, "otp"))
    shots = Screenshots("mfa-code-cap")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{site}/accounts/login/")
            page.get_by_label("Email address").fill(user.email)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in", exact=True).click()
            page.wait_for_url(f"{site}/accounts/mfa/")
            assert CAPPED in page.locator("main").inner_text(), "said before anyone types a code"

            page.get_by_label("6-digit code").fill(totp_code(device))
            page.get_by_role("button", name="Verify").click()
            text = page.locator("main").inner_text()
            assert CAPPED in text and "Use a recovery code instead." in text and "administrator" in text
            assert page.url == f"{site}/accounts/mfa/"
            shots(page, "capped")

            page.get_by_role("link", name="Use a recovery code").click()
            page.get_by_label("Recovery code").fill(code)
            page.get_by_role("button", name="Verify").click()
            page.wait_for_url(f"{site}/accounts/")
            shots(page, "signed-in")
        finally:
            browser.close()

    assert ratelimit.used(code_cap(user, "otp")) == 0, "the recovery code lifted the cap"
