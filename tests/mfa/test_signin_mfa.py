"""Sign-in as stages: the password starts a pending sign-in, the second factor finishes it.

Each test attacks one property: that the password alone signs nobody in, that the session key cannot be
fixed across either step, that a pending sign-in expires and dies with its account, and that neither a
password reset nor a half-finished sign-in opens a way around the second factor.
"""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.test import Client

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import SecurityEvent
from accounts.sessions import SessionStore
from accounts.signin_state import AUTH_METHODS, PENDING_SIGNIN
from tests.users import PASSWORD, add_totp, totp_code

from .pages import (
    ENROL_PAGE,
    MFA_PAGE,
    device_of,
    is_signed_in,
    page_after,
    password_step,
    session_key,
    start_pending,
    submit_code,
)

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind
NEW = "a brand new passphrase 7"


def test_password_alone_only_starts_a_pending_sign_in(ada, browser):
    c = browser()
    response = password_step(c, ada.email)
    assert response.status_code == 302
    assert response["Location"] == MFA_PAGE
    assert c.session.get(SESSION_KEY) is None, "nobody is signed in after the password step"
    assert c.session[PENDING_SIGNIN]["user"] == ada.pk
    home = c.get("/accounts/")
    assert home.status_code == 302 and home["Location"].startswith("/accounts/login/")
    assert c.get("/accounts/security/")["Location"].startswith("/accounts/login/")
    assert not SecurityEvent.objects.filter(kind=Event.SIGNIN_SUCCEEDED).exists()
    page = c.get(MFA_PAGE)
    assert page.status_code == 200
    assert 'autocomplete="one-time-code"' in page.content.decode()
    assert "no-store" in page["Cache-Control"]


def test_session_key_rotates_at_the_password_step_and_again_at_completion(ada, browser):
    c = browser()
    planted = c.session.session_key  # a key an attacker could have fixed in the victim's browser
    start_pending(c, ada)
    pending_key = session_key(c)
    assert pending_key != planted
    assert not SessionStore().exists(planted)

    assert submit_code(c, totp_code(device_of(ada))).status_code == 302
    signed_in_key = session_key(c)
    assert signed_in_key not in (planted, pending_key)
    assert not SessionStore().exists(pending_key)
    assert is_signed_in(c)

    # Whoever held the pending session's cookie holds nothing.
    stale = Client(raise_request_exception=False)
    stale.cookies[settings.SESSION_COOKIE_NAME] = pending_key
    assert not is_signed_in(stale)


def test_right_code_signs_in_and_records_both_factors_with_their_times(ada, browser, clock):
    c = start_pending(browser(), ada)
    password_at = int(clock.now())
    clock.advance(20)
    response = submit_code(c, totp_code(device_of(ada)))
    assert response.status_code == 302 and response["Location"] == "/accounts/"
    assert is_signed_in(c)
    session = c.session
    assert int(session[SESSION_KEY]) == ada.pk
    assert PENDING_SIGNIN not in session
    assert [entry["method"] for entry in session[AUTH_METHODS]] == ["pwd", "otp"]
    pwd, otp = session[AUTH_METHODS]
    assert pwd["at"] == password_at
    assert otp["at"] == password_at + 20


def test_sign_in_is_audited_as_password_plus_otp(ada, browser):
    c = start_pending(browser(REMOTE_ADDR="203.0.113.9"), ada)
    submit_code(c, totp_code(device_of(ada)))
    [verified] = SecurityEvent.objects.filter(kind=Event.MFA_VERIFIED)
    assert (verified.user, verified.method, verified.ip) == (ada, "otp", "203.0.113.9")
    [succeeded] = SecurityEvent.objects.filter(kind=Event.SIGNIN_SUCCEEDED)
    assert (succeeded.user, succeeded.method) == (ada, "pwd+otp")
    assert verified.pk < succeeded.pk


def test_next_given_at_the_password_step_is_followed_after_the_second_factor(ada, browser):
    c = start_pending(browser(), ada, next_url="/accounts/security/")
    response = submit_code(c, totp_code(device_of(ada)))
    assert response.status_code == 302
    assert response["Location"] == "/accounts/security/"


@pytest.mark.parametrize("evil", ["https://evil.example/", "//evil.example/", "/\\evil.example/", "http:evil.example"])
def test_off_site_next_is_still_refused_after_the_second_factor(ada, browser, evil):
    c = browser()
    response = c.post("/accounts/login/", {"email": ada.email, "password": PASSWORD, "next": evil})
    assert response["Location"] == MFA_PAGE
    done = submit_code(c, totp_code(device_of(ada)))
    assert done.status_code == 302
    assert done["Location"] == "/accounts/"


def test_a_user_without_a_second_factor_signs_in_with_the_password(user, browser):
    c = browser()
    response = password_step(c, user.email)
    assert response["Location"] == "/accounts/"
    assert [entry["method"] for entry in c.session[AUTH_METHODS]] == ["pwd"]
    assert SecurityEvent.objects.get(kind=Event.SIGNIN_SUCCEEDED).method == "pwd"


def test_wrong_password_never_reaches_the_second_step(ada, browser):
    c = browser()
    response = password_step(c, ada.email, "not the password at all")
    assert response.status_code == 400
    assert PENDING_SIGNIN not in c.session
    assert c.get(MFA_PAGE)["Location"] == "/accounts/login/"


# --- the pending sign-in ends --------------------------------------------------------------------


def test_mfa_page_without_a_pending_sign_in_sends_to_sign_in(ada, browser):
    c = browser()
    response = c.get(MFA_PAGE)
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    posted = submit_code(c, totp_code(device_of(ada)))
    assert posted.status_code == 302 and posted["Location"] == "/accounts/login/"
    assert not is_signed_in(c)


def test_pending_sign_in_expires(ada, browser, clock):
    c = start_pending(browser(), ada)
    clock.advance(accounts_settings.MFA_PENDING_TIMEOUT + 1)
    # A right code for the expired sign-in does nothing: it is not even checked.
    late = submit_code(c, totp_code(device_of(ada)))
    assert late.status_code == 302 and late["Location"] == "/accounts/login/"
    assert "took too long" in page_after(c, late)
    assert not is_signed_in(c)
    assert not SecurityEvent.objects.filter(kind__in=[Event.SIGNIN_SUCCEEDED, Event.MFA_VERIFIED]).exists()
    assert device_of(ada).last_t == -1
    # The pending sign-in is gone for good, even if the clock were read differently later.
    assert PENDING_SIGNIN not in c.session
    assert c.get(MFA_PAGE)["Location"] == "/accounts/login/"


def test_pending_sign_in_is_alive_just_before_its_timeout(ada, browser, clock):
    c = start_pending(browser(), ada)
    clock.advance(accounts_settings.MFA_PENDING_TIMEOUT - 2)
    assert submit_code(c, totp_code(device_of(ada)))["Location"] == "/accounts/"
    assert is_signed_in(c)


def test_pending_sign_in_of_a_since_deactivated_user_cannot_be_completed(ada, browser):
    c = start_pending(browser(), ada)
    type(ada).objects.filter(pk=ada.pk).update(is_active=False)
    response = submit_code(c, totp_code(device_of(ada)))
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert not is_signed_in(c)
    assert not SecurityEvent.objects.filter(kind=Event.SIGNIN_SUCCEEDED).exists()


def test_a_pending_sign_in_cannot_enrol_an_authenticator(ada, browser):
    """The password alone must not let an attacker add their own second factor."""
    c = start_pending(browser(), ada)
    page = c.get(ENROL_PAGE)
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")
    c.post(ENROL_PAGE, {"name": "Attacker", "code": "123456"})
    assert device_of(ada).name == "Phone" and ada.totpdevice_set.count() == 1
    assert c.post("/accounts/security/recovery-codes/regenerate/").status_code == 302
    assert not ada.recovery_codes.exists()


def test_another_users_code_does_not_finish_a_pending_sign_in(ada, make_user, browser):
    bob = make_user("bob@example.com")
    add_totp(bob)
    c = start_pending(browser(), ada)
    assert submit_code(c, totp_code(device_of(bob))).status_code == 400
    assert not is_signed_in(c)


# --- password reset does not bypass the second factor --------------------------------------------


def reset_password_through_pages(c: Client, email: str, deliver_outbox) -> None:
    assert c.post("/accounts/password/reset/", {"email": email}).status_code == 302
    body = deliver_outbox()[-1].body
    link = re.search(r"http://testserver(/accounts/password/reset/[^\s]+/)", body).group(1)
    form_url = c.get(link)["Location"]
    done = c.post(form_url, {"new_password1": NEW, "new_password2": NEW})
    assert done.status_code == 302 and done["Location"] == "/accounts/login/"


def test_password_reset_does_not_bypass_mfa(ada, browser, deliver_outbox):
    c = browser()
    reset_password_through_pages(c, ada.email, deliver_outbox)
    assert not is_signed_in(c)
    response = password_step(c, ada.email, NEW)
    assert response.status_code == 302 and response["Location"] == MFA_PAGE
    assert not is_signed_in(c)
    assert submit_code(c, totp_code(device_of(ada)))["Location"] == "/accounts/"


def test_pending_sign_in_started_before_a_password_reset_cannot_be_completed(ada, browser, deliver_outbox):
    attacker = start_pending(browser(), ada)  # knows the old password, waits for a code
    reset_password_through_pages(browser(), ada.email, deliver_outbox)
    submit_code(attacker, totp_code(device_of(ada)))
    assert not is_signed_in(attacker)
