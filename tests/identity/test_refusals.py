"""Every way a rate-limit refusal is answered (identity/refusals.py): the status, Retry-After, and exactly
the audit rows it leaves, one per refusal (none on the paths that name no account), never two."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import SecurityEvent
from identity import ratelimit
from tests.users import PASSWORD, add_totp, totp_code

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind
WRONG = "not the right password at all"
THROTTLE_KINDS = (Event.THROTTLED, Event.SIGNIN_THROTTLED)


def browser() -> Client:
    return Client(raise_request_exception=False)


def signed_in(user) -> Client:
    c = browser()
    assert c.post("/accounts/login/", {"email": user.email, "password": PASSWORD}).status_code == 302
    return c


def cap_passwords(user) -> None:
    ratelimit.hit(("signin-account-cap", user.email))  # the cap is 1 here: the next attempt is past it


def wrong_code(device) -> str:
    valid = {totp_code(device, steps) for steps in (-1, 0, 1)}
    return next(code for code in (f"{n}" * 6 for n in range(10)) if code not in valid)


def pending_mfa(user) -> tuple[Client, object]:
    device = add_totp(user)
    c = browser()
    response = c.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    assert response["Location"] == "/accounts/mfa/"
    return c, device


# Each path: the limits it runs under, then a setup that returns the refused request.
def signin(user):
    c = browser()
    assert c.post("/accounts/login/", {"email": user.email, "password": WRONG}).status_code == 400
    return lambda: c.post("/accounts/login/", {"email": user.email, "password": PASSWORD})


def signin_past_cap(user):
    c = browser()  # past the cap, the code sign-in's own password check is refused by signin-ip-account
    assert c.post("/accounts/login/", {"email": user.email, "password": WRONG}).status_code == 400
    return lambda: c.post("/accounts/login/", {"email": user.email, "password": PASSWORD})


def signin_code(user):
    c = browser()
    cap_passwords(user)
    right = c.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    assert right["Location"] == "/accounts/login/code/"
    assert c.post("/accounts/login/code/", {"code": "00000000"}).status_code == 400
    return lambda: c.post("/accounts/login/code/", {"code": "00000000"})


def reauthenticate(user):
    c = signed_in(user)
    assert c.post("/accounts/reauthenticate/", {"password": WRONG}).status_code == 400
    return lambda: c.post("/accounts/reauthenticate/", {"password": PASSWORD})


def reauthenticate_capped(user):
    c = signed_in(user)
    cap_passwords(user)
    return lambda: c.post("/accounts/reauthenticate/", {"password": PASSWORD})


def not_me(user):
    c = signed_in(user)
    assert c.post("/accounts/security/not-me/", {"password": WRONG}).status_code == 400
    return lambda: c.post("/accounts/security/not-me/", {"password": PASSWORD})


def password_change(user):
    c = signed_in(user)
    data = {"old_password": WRONG, "new_password1": "n3w passphrase!", "new_password2": "n3w passphrase!"}
    assert c.post("/accounts/password/change/", data).status_code == 400
    return lambda: c.post("/accounts/password/change/", {**data, "old_password": PASSWORD})


def password_change_capped(user):
    c = signed_in(user)
    ratelimit.hit(("password-change-cap", user.email))  # its own cap (issue 19), 1 here
    data = {"old_password": PASSWORD, "new_password1": "n3w passphrase!", "new_password2": "n3w passphrase!"}
    return lambda: c.post("/accounts/password/change/", data)


def mfa_code(user):
    c, device = pending_mfa(user)
    assert c.post("/accounts/mfa/", {"code": wrong_code(device)}).status_code == 400
    return lambda: c.post("/accounts/mfa/", {"code": totp_code(device)})


def mfa_device_backoff(user):
    c, device = pending_mfa(user)
    device.throttling_failure_count, device.throttling_failure_timestamp = 5, timezone.now()
    device.save()
    return lambda: c.post("/accounts/mfa/", {"code": totp_code(device)})


def passkey_options(user):
    c = browser()
    assert c.post("/accounts/passkeys/signin/options/", content_type="application/json").status_code == 200
    return lambda: c.post("/accounts/passkeys/signin/options/", content_type="application/json")


def token(user):
    c = browser()
    assert c.post("/oauth/token/", {"grant_type": "client_credentials"}).status_code == 401
    return lambda: c.post("/oauth/token/", {"grant_type": "client_credentials"})


def signup(user):
    c = browser()
    assert c.post("/accounts/signup/", {"email": "new@example.com", "password": PASSWORD}).status_code == 302
    return lambda: c.post("/accounts/signup/", {"email": "newer@example.com", "password": PASSWORD})


def authorize_signed_in(user):
    c = signed_in(user)
    assert c.get("/oauth/authorize/").status_code != 429
    return lambda: c.get("/oauth/authorize/")


USER = object()  # stands for the test's user in the expected rows
PATHS = {
    # path: (limits, setup, Retry-After sent, the audit rows the refusal leaves: kind, user, method, reason)
    "signin": ({"signin-ip-account": "1/15m"}, signin, True, [(Event.SIGNIN_THROTTLED, USER, "pwd", "signin")]),
    "signin-past-cap": (
        {"signin-ip-account": "1/15m", "signin-account-cap": "1/100y"},
        signin_past_cap,
        True,
        [(Event.SIGNIN_THROTTLED, USER, "pwd", "signin")],
    ),
    "signin-code": ({"signin-account-cap": "1/100y", "mfa-pending": "1/5m"}, signin_code, True, []),
    "reauthenticate": (
        {"signin-ip-account": "1/15m"},
        reauthenticate,
        True,
        [(Event.SIGNIN_THROTTLED, USER, "pwd", "reauth")],
    ),
    "reauthenticate-capped": (
        {"signin-account-cap": "1/100y"},
        reauthenticate_capped,
        False,
        [(Event.SIGNIN_THROTTLED, USER, "pwd", "reauth")],
    ),
    "not-me": ({"signin-ip-account": "1/15m"}, not_me, True, [(Event.SIGNIN_THROTTLED, USER, "pwd", "reauth")]),
    "password-change": (
        {"password-change-session": "1/15m"},
        password_change,
        True,
        [(Event.SIGNIN_THROTTLED, USER, "pwd", "password_change")],
    ),
    "password-change-capped": (
        {"password-change-cap": "1/100y"},
        password_change_capped,
        False,
        [(Event.SIGNIN_THROTTLED, USER, "pwd", "password_change")],
    ),
    "mfa-code": ({"mfa-pending": "1/5m"}, mfa_code, True, [(Event.THROTTLED, USER, "otp", "mfa")]),
    "mfa-code-capped": ({"mfa-account-cap": "1/100y"}, mfa_code, False, [(Event.THROTTLED, USER, "otp", "mfa_capped")]),
    "mfa-device-backoff": ({}, mfa_device_backoff, True, [(Event.THROTTLED, USER, "otp", "mfa")]),
    "passkey-options": ({"passkey-ip": "1/15m"}, passkey_options, True, []),
    "oidc-token": ({"token-ip": "1/15m"}, token, True, []),
    "signup (middleware)": (
        {"signup-ip": "1/15m"},
        signup,
        True,
        [(Event.THROTTLED, None, "", "signup-ip,signup-address")],
    ),
    "oidc-authorize (middleware)": (
        {"authorize-ip": "1/15m"},
        authorize_signed_in,
        True,
        [(Event.THROTTLED, USER, "", "authorize-ip")],
    ),
}


@pytest.mark.parametrize("path", PATHS)
def test_each_refusal_is_answered_and_audited_exactly_once(path, settings, user):
    limits, setup, retry_after, expected = PATHS[path]
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, **limits}
    refused_request: Callable = setup(user)
    before = set(SecurityEvent.objects.values_list("pk", flat=True))

    response = refused_request()

    assert response.status_code == 429, response.content
    assert ("Retry-After" in response) == retry_after
    written = SecurityEvent.objects.exclude(pk__in=before).filter(kind__in=THROTTLE_KINDS).order_by("pk")
    rows = [(row.kind, USER if row.user_id == user.pk else row.user_id, row.method, row.reason) for row in written]
    assert rows == expected


def test_a_refusal_speaks_the_visitors_language(settings, user):
    """Its words are chosen where the refusal is raised and its wait said where it is answered: both
    in the visitor's language."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "signin-ip-account": "1/15m", "passkey-ip": "1/15m"}
    c = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="de")
    c.post("/accounts/login/", {"email": user.email, "password": WRONG})
    page = c.post("/accounts/login/", {"email": user.email, "password": PASSWORD}).content.decode()
    assert "Zum Schutz Ihres Kontos warten Sie bitte etwa 15 Minuten, bevor Sie es erneut versuchen." in page
    c.post("/accounts/passkeys/signin/options/", content_type="application/json")
    answer = c.post("/accounts/passkeys/signin/options/", content_type="application/json")
    assert answer.json() == {"error": "Zu viele Versuche. Bitte warten Sie einen Moment."}


def test_a_refusal_waiting_does_not_lift_gets_the_429_page_without_a_wait_in_any_language(rf):
    """A past-the-cap refusal that reaches the middleware (no page of its own) still gets the 429 page,
    saying nothing of a wait it has not got and sending no Retry-After."""
    from django.utils import translation

    from identity.refusals import respond

    refused = ratelimit.RateLimited(30, ("signin-account-cap",), audit=None).without_wait()
    with translation.override("en"):
        response = respond(rf.get("/"), refused)
    assert response.status_code == 429 and not response.has_header("Retry-After")
    assert b"Please try again later." in response.content and b"Please try again in" not in response.content
    with translation.override("de"):
        german = respond(rf.get("/"), refused)
    assert "Bitte versuchen Sie es später noch einmal.".encode() in german.content
