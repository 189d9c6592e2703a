"""django-otp's back-off is capped, and proving another factor clears it (issue 13, section 7).

An attacker who knows the password can fail authenticator-app codes on purpose: django-otp doubles the
device's pause after each failure, which without a cap reaches days after a few dozen. The clock is
controlled by setting django-otp's throttling fields, never by sleeping.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from mfa import recovery
from tests.users import totp_code

from .pages import device_of, is_signed_in, start_pending, submit_code
from .softauthn import SoftAuthenticator
from .test_passkeys import add_passkey, passkey_signin

pytestmark = pytest.mark.django_db

CAP = 15 * 60


def run_up_backoff(device, failures: int = 40, seconds_ago: float = 0) -> None:
    """The state after an attacker failed `failures` codes, the last one `seconds_ago`."""
    type(device).objects.filter(pk=device.pk).update(
        throttling_failure_count=failures,
        throttling_failure_timestamp=timezone.now() - timedelta(seconds=seconds_ago),
    )


def test_an_attackers_failures_pause_the_owners_app_for_at_most_fifteen_minutes(ada, browser):
    device = device_of(ada)
    run_up_backoff(device, seconds_ago=CAP - 30)  # uncapped: 2**39 seconds (17,000 years)
    owner = start_pending(browser(), ada)
    paused = submit_code(owner, totp_code(device))
    assert paused.status_code == 429 and 0 < int(paused["Retry-After"]) <= 30
    assert not is_signed_in(owner)

    run_up_backoff(device, seconds_ago=CAP + 1)
    assert submit_code(owner, totp_code(device))["Location"] == "/accounts/"
    device.refresh_from_db()
    assert device.throttling_failure_count == 0


def test_the_pause_still_grows_below_the_cap(ada, browser):
    """The cap does not weaken the doubling under it: after 5 failures the device waits 16 s."""
    device = device_of(ada)
    run_up_backoff(device, failures=5, seconds_ago=10)
    paused = submit_code(start_pending(browser(), ada), totp_code(device))
    assert paused.status_code == 429 and int(paused["Retry-After"]) == 6


def test_a_recovery_code_clears_the_back_off(ada, browser):
    codes = recovery.generate(ada)
    device = device_of(ada)
    run_up_backoff(device)
    c = start_pending(browser(), ada)
    assert submit_code(c, codes[0], recovery=True)["Location"] == "/accounts/"
    device.refresh_from_db()
    assert (device.throttling_failure_count, device.throttling_failure_timestamp) == (0, None)
    c.post("/accounts/logout/")
    assert submit_code(start_pending(browser(), ada), totp_code(device))["Location"] == "/accounts/"


def test_a_passkey_at_the_second_step_clears_the_back_off(ada, browser):
    authenticator = SoftAuthenticator()
    add_passkey(ada, authenticator)
    device = device_of(ada)
    run_up_backoff(device)
    c = start_pending(browser(), ada)
    assert passkey_signin(c, authenticator).json() == {"redirect": "/accounts/"}
    device.refresh_from_db()
    assert device.throttling_failure_count == 0


def test_a_passwordless_passkey_sign_in_clears_the_back_off(ada, browser):
    authenticator = SoftAuthenticator()
    add_passkey(ada, authenticator)
    device = device_of(ada)
    run_up_backoff(device)
    assert passkey_signin(browser(), authenticator).json() == {"redirect": "/accounts/"}
    device.refresh_from_db()
    assert device.throttling_failure_count == 0
