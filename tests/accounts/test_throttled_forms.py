"""Every throttled form shows its own page again: 429 with Retry-After, the words saying when to try
again, what the person typed (never a password), and the signed-in header (issue 19)."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.users import PASSWORD, add_totp

pytestmark = pytest.mark.django_db

SECRET = "a typed secret 123456"
NAV = '<nav aria-label="Account">'


def limited(settings, **limits: str) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, **{name.replace("_", "-"): spec for name, spec in limits.items()}}


def sign_in(user) -> Client:
    c = Client(raise_request_exception=False)
    assert c.post("/accounts/login/", {"email": user.email, "password": PASSWORD}).status_code == 302
    return c


def assert_throttled(response, *, kept: str = "", form_field: str, signed_in: bool) -> str:
    page = response.content.decode()
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert re.search(r"Try again in (about )?\d+ (minute|minutes|seconds?)|wait (about )?\d+ (minute|second)", page), (
        page
    )
    assert f'name="{form_field}"' in page, "the form is shown again"
    if kept:
        assert f'value="{kept}"' in page, "the non-secret input is kept"
    assert SECRET not in page, "no password is echoed"
    assert (NAV in page) is signed_in
    return page


def test_signin(settings, user):
    limited(settings, signin_ip_account="1/15m")
    c = Client(raise_request_exception=False)
    c.post("/accounts/login/", {"email": user.email, "password": SECRET})
    response = c.post("/accounts/login/", {"email": user.email, "password": SECRET})
    assert_throttled(response, kept=user.email, form_field="password", signed_in=False)


def test_signup(settings, db):
    limited(settings, signup_address="1/h")
    c = Client(raise_request_exception=False)
    assert c.post("/accounts/signup/", {"email": "new@example.com", "password": SECRET}).status_code == 302
    response = c.post("/accounts/signup/", {"email": "new@example.com", "password": SECRET})
    page = assert_throttled(response, kept="new@example.com", form_field="password", signed_in=False)
    assert "Try again in about 60 minutes" in page or "Try again in about 1 hour" in page


def test_password_change(settings, user):
    limited(settings, password_change_session="1/15m")
    c = sign_in(user)
    fields = {"old_password": SECRET, "new_password1": SECRET, "new_password2": SECRET}
    assert c.post("/accounts/password/change/", fields).status_code == 400
    response = c.post("/accounts/password/change/", fields)
    page = assert_throttled(response, form_field="old_password", signed_in=True)
    assert "Try again in about 15 minutes" in page


def test_password_reset(settings, user):
    limited(settings, reset_address="1/h")
    c = Client(raise_request_exception=False)
    assert c.post("/accounts/password/reset/", {"email": user.email}).status_code == 302
    response = c.post("/accounts/password/reset/", {"email": user.email})
    assert_throttled(response, kept=user.email, form_field="email", signed_in=False)


def test_email_change(settings, user):
    limited(settings, email_change_account="1/h")
    c = sign_in(user)
    assert c.post("/accounts/email/", {"email": "first@example.com"}).status_code == 200
    response = c.post("/accounts/email/", {"email": "second@example.com"})
    assert_throttled(response, kept="second@example.com", form_field="email", signed_in=True)


def test_reauthenticate(settings, user):
    limited(settings, signin_ip_account="2/15m")
    c = sign_in(user)  # a right password: the counters start over
    c.post("/accounts/reauthenticate/", {"password": SECRET})
    c.post("/accounts/reauthenticate/", {"password": SECRET})
    response = c.post("/accounts/reauthenticate/", {"password": SECRET})
    assert_throttled(response, form_field="password", signed_in=True)


def test_not_me(settings, user):
    limited(settings, signin_ip_account="1/15m")
    c = sign_in(user)
    c.post("/accounts/security/not-me/", {"password": SECRET})
    response = c.post("/accounts/security/not-me/", {"password": SECRET})
    assert_throttled(response, form_field="password", signed_in=True)


def test_mfa_challenge(settings, user):
    limited(settings, mfa_pending="1/5m")
    add_totp(user)
    c = Client(raise_request_exception=False)
    assert c.post("/accounts/login/", {"email": user.email, "password": PASSWORD})["Location"] == "/accounts/mfa/"
    c.post("/accounts/mfa/", {"code": "000000"})
    response = c.post("/accounts/mfa/", {"code": "000000"})
    assert_throttled(response, form_field="code", signed_in=False)


def test_the_words_are_german_too(settings, db):
    limited(settings, signup_address="1/h")
    c = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="de")
    c.post("/accounts/signup/", {"email": "new@example.com", "password": SECRET})
    response = c.post("/accounts/signup/", {"email": "new@example.com", "password": SECRET})
    assert response.status_code == 429
    assert "Zu viele Versuche. Versuchen Sie es in etwa" in response.content.decode()
