"""At most 100 consecutive wrong second-factor codes per account (NIST SP 800-63B; issue 13).

The attacker knows the password and guesses authenticator-app codes, a few a minute under the time-based
limits, for ever. Past `mfa-account-cap` no code of that kind is checked any more, from anywhere; the
owner is told and still gets in with another factor (which lifts the cap), or through an admin's reset.
"""

from __future__ import annotations

import pytest

from identity import ratelimit
from mfa import recovery
from mfa.base import code_cap
from mfa.flows import reset_mfa
from tests.users import add_totp, totp_code

from .pages import device_of, is_signed_in, start_pending, submit_code, wrong_code
from .softauthn import SoftAuthenticator
from .test_passkeys import add_passkey, passkey_signin

pytestmark = pytest.mark.django_db

HIGH = "1000/1000d"
CAPPED = "no longer accepted for this account"


@pytest.fixture(autouse=True)
def only_the_cap(settings):
    """The time-based limits and django-otp's pauses out of the way: the attacker has all the time."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "mfa-pending": HIGH, "mfa-account": HIGH}
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


def capped(user, method: str = "otp") -> None:
    for _ in range(100):
        ratelimit.hit(code_cap(user, method))


def test_after_100_wrong_app_codes_the_right_one_is_refused(ada, browser, deliver_outbox):
    device = device_of(ada)
    attacker = start_pending(browser(), ada)
    for i in range(100):
        assert submit_code(attacker, wrong_code(device)).status_code == 400, i
    refused = submit_code(attacker, totp_code(device))
    page = refused.content.decode()
    assert refused.status_code == 429 and "Retry-After" not in refused, "waiting does not help: no wait is promised"
    assert CAPPED in page and "Use a recovery code instead." in page and "administrator" in page
    assert not is_signed_in(attacker)
    assert device_of(ada).last_t == -1, "the right code was not even checked"

    [warning] = [m for m in deliver_outbox() if "no longer accepted for your account" in m.body]
    assert warning.to == [ada.email] and "100 times" in warning.body
    assert "no longer accepted for your account" in warning.alternatives[0][0]


def test_the_cap_is_per_account_not_per_address(ada, make_user, browser):
    """Spread over 20 addresses and 20 sign-ins, the 100 guesses still cap the account; Bob is untouched."""
    device = device_of(ada)
    for i in range(20):
        c = start_pending(browser(REMOTE_ADDR=f"198.51.100.{i}"), ada)
        for _ in range(5):
            assert submit_code(c, wrong_code(device)).status_code == 400
    fresh = start_pending(browser(REMOTE_ADDR="192.0.2.200"), ada)
    assert submit_code(fresh, totp_code(device)).status_code == 429
    assert not is_signed_in(fresh)

    bob = make_user("bob@example.com")
    add_totp(bob)
    assert submit_code(start_pending(browser(), bob), totp_code(device_of(bob)))["Location"] == "/accounts/"


def test_a_passkey_still_signs_in_and_lifts_the_cap(ada, browser):
    authenticator = SoftAuthenticator()
    add_passkey(ada, authenticator)
    capped(ada)
    c = start_pending(browser(), ada)
    assert CAPPED in submit_code(c, totp_code(device_of(ada))).content.decode()
    assert "Use a passkey or a recovery code instead." in submit_code(c, "123456").content.decode()
    assert passkey_signin(c, authenticator).json() == {"redirect": "/accounts/"}, "the second step by passkey"
    assert ratelimit.used(code_cap(ada, "otp")) == 0

    capped(ada)
    passwordless = browser()
    assert passkey_signin(passwordless, authenticator).json() == {"redirect": "/accounts/"}
    assert ratelimit.used(code_cap(ada, "otp")) == 0, "a passwordless passkey sign-in lifts it too"


def test_a_recovery_code_still_works_and_lifts_the_cap(ada, browser):
    codes = recovery.generate(ada)
    capped(ada)
    c = start_pending(browser(), ada)
    assert submit_code(c, totp_code(device_of(ada))).status_code == 429
    assert submit_code(c, codes[0], recovery=True)["Location"] == "/accounts/"
    assert ratelimit.used(code_cap(ada, "otp")) == 0
    c.post("/accounts/logout/")
    again = start_pending(browser(), ada)
    assert submit_code(again, totp_code(device_of(ada), 1))["Location"] == "/accounts/", "the app works again"


def test_wrong_recovery_codes_are_capped_apart_and_leave_the_app(ada, browser):
    codes = recovery.generate(ada)
    attacker = start_pending(browser(), ada)
    for _ in range(100):
        assert submit_code(attacker, "aaaa-bbbb-cccc", recovery=True).status_code == 400
    refused = submit_code(attacker, codes[0], recovery=True)
    assert refused.status_code == 429 and "recovery codes are no longer accepted" in refused.content.decode()
    assert "recovery codes are no longer accepted" in attacker.get("/accounts/mfa/?method=recovery").content.decode()
    assert CAPPED not in attacker.get("/accounts/mfa/").content.decode(), "the app's codes are not capped"
    assert recovery.use(ada, codes[0]), "the right code was not spent"
    owner = start_pending(browser(), ada)
    assert submit_code(owner, totp_code(device_of(ada)))["Location"] == "/accounts/"
    assert ratelimit.used(code_cap(ada, "recovery")) == 0


def test_the_owners_right_code_starts_the_count_over(ada, browser, clock):
    """Consecutive failures: 99 wrong, the owner's right one, then 99 more are still checked."""
    device = device_of(ada)
    c = start_pending(browser(), ada)
    for _ in range(99):
        assert submit_code(c, wrong_code(device)).status_code == 400
    assert submit_code(c, totp_code(device))["Location"] == "/accounts/"
    assert ratelimit.used(code_cap(ada, "otp")) == 0
    c.post("/accounts/logout/")
    again = start_pending(browser(), ada)
    clock.advance(30)  # the next code (the last one is spent)
    for _ in range(99):
        assert submit_code(again, wrong_code(device)).status_code == 400
    assert submit_code(again, totp_code(device))["Location"] == "/accounts/"


def test_guesses_at_a_re_authentication_count_too(ada, browser):
    """A session thief guessing codes at "confirm it's you" spends the same cap."""
    from .pages import reauthenticate, sign_in_with_mfa

    c = sign_in_with_mfa(browser(), ada)
    capped(ada)
    refused = reauthenticate(c, totp_code(device_of(ada), 1))
    assert refused.status_code == 429 and CAPPED in refused.content.decode()


def test_an_admins_reset_lifts_the_cap_but_a_password_reset_does_not(ada, browser, deliver_outbox):
    from accounts.flows.signin import lift_password_throttling

    capped(ada)
    capped(ada, "recovery")
    lift_password_throttling(ada.email)  # what a password reset clears
    assert submit_code(start_pending(browser(), ada), totp_code(device_of(ada))).status_code == 429
    reset_mfa(ada)
    assert ratelimit.used(code_cap(ada, "otp")) == ratelimit.used(code_cap(ada, "recovery")) == 0


def test_the_capped_page_speaks_german(ada, browser):
    capped(ada)
    c = start_pending(browser(HTTP_ACCEPT_LANGUAGE="de"), ada)
    page = submit_code(c, totp_code(device_of(ada))).content.decode()
    assert "nicht mehr angenommen" in page
