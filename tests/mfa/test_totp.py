"""Codes from an authenticator app at the sign-in step: replay, clock drift, formats, races and throttling."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from accounts.models import SecurityEvent
from accounts.signin_state import SigninState
from identity import ratelimit
from mfa.base import mfa_counters
from tests.concurrency import run_in_parallel
from tests.users import add_totp, totp_code

from .pages import device_of, is_signed_in, start_pending, submit_code, wrong_code

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind
FORMAT_MESSAGE = "Enter the 6 digits your authenticator app shows."
WRONG_MESSAGE = "That code is not right. Check it and try again."


# --- replay and drift ------------------------------------------------------------------------------


def test_a_code_works_once(ada, browser):
    code = totp_code(device_of(ada))
    first = start_pending(browser(), ada)
    assert submit_code(first, code)["Location"] == "/accounts/"

    replay = start_pending(browser(), ada)  # someone who saw the code and knows the password
    response = submit_code(replay, code)
    assert response.status_code == 400
    assert WRONG_MESSAGE in response.content.decode()
    assert not is_signed_in(replay)
    assert SecurityEvent.objects.filter(kind=Event.MFA_FAILED, user=ada, method="otp").count() == 1


def test_an_older_code_is_refused_after_a_newer_one_was_used(ada, browser):
    assert submit_code(start_pending(browser(), ada), totp_code(device_of(ada)))["Location"] == "/accounts/"
    late = start_pending(browser(), ada)
    assert submit_code(late, totp_code(device_of(ada), steps_ago=1)).status_code == 400
    assert not is_signed_in(late)


@pytest.mark.parametrize(("steps_ago", "accepted"), [(1, True), (-1, True), (2, False), (-2, False)])
def test_one_step_of_clock_drift_is_tolerated_two_are_not(ada, browser, steps_ago, accepted):
    c = start_pending(browser(), ada)
    response = submit_code(c, totp_code(device_of(ada), steps_ago=steps_ago))
    assert (response.status_code == 302) is accepted
    assert is_signed_in(c) is accepted


@pytest.mark.parametrize("shape", ["{a} {b}", " {a}{b} ", "{a}-{b}", "{a}  {b}"])
def test_codes_with_spaces_or_dashes_are_accepted(ada, browser, shape):
    code = totp_code(device_of(ada))
    c = start_pending(browser(), ada)
    response = submit_code(c, shape.format(a=code[:3], b=code[3:]))
    assert response.status_code == 302 and response["Location"] == "/accounts/"


@pytest.mark.parametrize("garbage", ["12a456", "12345", "1234567", "", "abcdef", "123.456", "0x1e240"])
def test_malformed_codes_get_a_clear_400(ada, browser, garbage):
    c = start_pending(browser(), ada)
    response = submit_code(c, garbage)
    assert response.status_code == 400
    html = response.content.decode()
    assert FORMAT_MESSAGE in html or "This field is required." in html
    assert not is_signed_in(c)
    assert device_of(ada).throttling_failure_count == 0, "nothing was checked against the device"


def test_a_code_from_any_of_the_users_devices_works(ada, browser):
    tablet = add_totp(ada, "Tablet")
    c = start_pending(browser(), ada)
    assert submit_code(c, totp_code(tablet))["Location"] == "/accounts/"


@pytest.mark.django_db(transaction=True)
def test_ten_parallel_submissions_of_one_code_succeed_exactly_once(ada, generous_limits):
    code = totp_code(device_of(ada))
    browsers = [start_pending(Client(raise_request_exception=False), ada) for _ in range(10)]
    results = run_in_parallel([lambda c=c: submit_code(c, code) for c in browsers])
    statuses = sorted(getattr(r, "status_code", r) for r in results)
    # One succeeds; the rest are refused: as a used code (400) or, once those refusals put the device
    # into django-otp's pause, told to wait (429).
    assert statuses[0] == 302 and all(status in (400, 429) for status in statuses[1:]), results
    assert sum(is_signed_in(c) for c in browsers) == 1
    assert SecurityEvent.objects.filter(kind=Event.SIGNIN_SUCCEEDED).count() == 1


# --- throttling ------------------------------------------------------------------------------------


@pytest.fixture
def no_device_backoff(settings):
    """Take django-otp's per-device pause out of the way, to test the Redis limits alone."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


def test_pending_sign_in_is_throttled_after_five_wrong_codes_even_for_the_right_one(ada, browser, no_device_backoff):
    c = start_pending(browser(), ada)
    device = device_of(ada)
    for _ in range(5):
        assert submit_code(c, wrong_code(device)).status_code == 400
    throttled = submit_code(c, totp_code(device))
    assert throttled.status_code == 429
    assert 0 < int(throttled["Retry-After"]) <= 60
    assert "Too many attempts" in throttled.content.decode()
    assert not is_signed_in(c)
    assert device_of(ada).last_t == -1, "the right code was not even checked"
    assert SecurityEvent.objects.filter(kind=Event.MFA_FAILED).count() == 5


def test_account_limit_spans_pending_sign_ins(ada, browser, no_device_backoff):
    """Starting over with the password gives a new pending sign-in, not new guesses (10 per account)."""
    device = device_of(ada)
    for _ in range(2):
        c = start_pending(browser(), ada)
        for _ in range(5):
            assert submit_code(c, wrong_code(device)).status_code == 400
    fresh = start_pending(browser(), ada)
    response = submit_code(fresh, totp_code(device))
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert not is_signed_in(fresh)


def test_account_limit_does_not_touch_other_accounts(ada, make_user, browser):
    bob = make_user("bob@example.com")
    add_totp(bob)
    for _ in range(2):
        c = start_pending(browser(), ada)
        for _ in range(5):
            submit_code(c, wrong_code(device_of(ada)))
    assert submit_code(start_pending(browser(), bob), totp_code(device_of(bob)))["Location"] == "/accounts/"


def test_a_successful_factor_clears_the_counters(ada, browser, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "mfa-account": "5/15m"}
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp's own pauses are tested separately
    device = device_of(ada)
    c = start_pending(browser(), ada)
    pending = SigninState(c.session).pending
    for _ in range(4):
        assert submit_code(c, wrong_code(device)).status_code == 400
    assert submit_code(c, totp_code(device))["Location"] == "/accounts/"  # the 5th attempt on the account
    for counter in mfa_counters(pending, ada):
        assert ratelimit.used(counter) == 0, counter

    # Had the account counter been kept, the next sign-in's first attempt would be refused.
    c.post("/accounts/logout/")
    again = start_pending(browser(), ada)
    for _ in range(5):
        assert submit_code(again, wrong_code(device)).status_code == 400


def test_django_otp_throttles_the_device_after_failures(ada, browser):
    """Under the Redis limits, django-otp makes each device wait 1, 2, 4 ... s after failures."""
    device = device_of(ada)
    c = start_pending(browser(), ada)

    def pause_over() -> None:
        device.refresh_from_db()
        type(device).objects.filter(pk=device.pk).update(
            throttling_failure_timestamp=device.throttling_failure_timestamp - timedelta(minutes=1)
        )

    submit_code(c, wrong_code(device))
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    pause_over()
    submit_code(c, wrong_code(device))
    device.refresh_from_db()
    assert device.throttling_failure_count == 2

    # The device now wants a 2 s pause: even the right code waits (and is not counted as a failure);
    # the person is told to wait, not that a right code is wrong.
    paused = submit_code(c, totp_code(device))
    assert paused.status_code == 429 and "Please wait" in paused.content.decode()
    assert not is_signed_in(c)
    device.refresh_from_db()
    assert device.throttling_failure_count == 2

    pause_over()
    assert submit_code(c, totp_code(device))["Location"] == "/accounts/"
    device.refresh_from_db()
    assert device.throttling_failure_count == 0


def test_throttled_code_attempts_are_audited(ada, browser):
    c = start_pending(browser(), ada)
    for _ in range(5):
        submit_code(c, wrong_code(device_of(ada)))
    assert submit_code(c, totp_code(device_of(ada))).status_code == 429
    assert SecurityEvent.objects.filter(user=ada, kind__in=[Event.SIGNIN_THROTTLED, Event.THROTTLED]).exists()
