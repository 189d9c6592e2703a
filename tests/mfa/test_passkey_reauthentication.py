"""Confirm it's you with a passkey on the re-authentication page (issue 19).

The attacker holds a copy of the session cookie, perhaps the password, perhaps a passkey of their own
account: none of it re-authenticates Ada. Only one of her own passkeys, user-verified, answering a
challenge given to this session for this purpose, once; its failures count on the same limit as the
password's on this page.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import SecurityEvent
from identity.cookies import cookie_name
from mfa.passkeys import auth
from tests.users import PASSWORD

from .pages import ENROL_PAGE, REAUTH_PAGE
from .softauthn import SoftAuthenticator
from .test_passkeys import (
    NO_REQUEST,
    NOT_VERIFIED,
    SIGNIN_OPTIONS,
    add_passkey,
    methods,
    options_from,
    passkey_signin,
    post_json,
)

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind
OPTIONS = "/accounts/passkeys/reauthenticate/options/"
CONFIRM = "/accounts/passkeys/reauthenticate/"
NOT_HERS = "This passkey is not one of this account's."
CHALLENGE_COOKIE = cookie_name(auth.CHALLENGE_COOKIE)


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator()


@pytest.fixture
def ada_key(user, authenticator):
    return add_passkey(user, authenticator)


@pytest.fixture
def ada(user, ada_key, browser, authenticator, clock) -> Client:
    """Ada signed in with her passkey, long enough ago that it no longer confirms it's her."""
    c = browser()
    assert passkey_signin(c, authenticator).status_code == 200
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 1)
    assert c.get(ENROL_PAGE)["Location"].startswith(REAUTH_PAGE)
    return c


def confirm(c: Client, authenticator: SoftAuthenticator, next_url: object = ENROL_PAGE, **knobs):
    credential = authenticator.get(options_from(c, OPTIONS), **knobs)
    return post_json(c, CONFIRM, {"credential": credential, "next": next_url})


def reauthenticated() -> list[tuple[str, str]]:
    return list(SecurityEvent.objects.filter(kind=Event.REAUTHENTICATED).values_list("user__email", "method"))


def test_the_page_offers_her_passkey_beside_the_password(ada):
    page = ada.get(REAUTH_PAGE, {"next": ENROL_PAGE})
    html = page.content.decode()
    assert page.status_code == 200 and 'name="password"' in html and "Use a passkey" in html
    assert 'data-passkey-verify="/accounts/passkeys/reauthenticate/"' in html
    assert 'data-next="/accounts/security/totp/add/"' in html


def test_a_password_account_without_a_passkey_sees_no_passkey_button(signed_in_client):
    page = signed_in_client.get(REAUTH_PAGE).content.decode()
    assert 'name="password"' in page and "Use a passkey" not in page


def test_options_ask_for_her_passkeys_only_with_user_verification(ada, user, authenticator, make_user):
    add_passkey(make_user("bob@example.com"), SoftAuthenticator())
    options = options_from(ada, OPTIONS)
    assert [item["id"] for item in options["allowCredentials"]] == [authenticator.credentials[0].b64id]
    assert options["userVerification"] == "required"
    assert options_from(ada, OPTIONS)["challenge"] != options["challenge"], "a fresh challenge each time"


def test_her_passkey_confirms_it_is_her_and_goes_on_to_next(ada, user, authenticator):
    old_key = ada.cookies[settings.SESSION_COOKIE_NAME].value
    response = confirm(ada, authenticator)
    assert response.status_code == 200 and response.json() == {"redirect": ENROL_PAGE}
    assert ada.get(ENROL_PAGE).status_code == 200
    assert reauthenticated() == [(user.email, "passkey")]
    assert methods(ada).count("passkey") == 2, "the sign-in's and the later one"
    assert ada.cookies[settings.SESSION_COOKIE_NAME].value != old_key, "the session key rotates"
    assert response.cookies[CHALLENGE_COOKIE].value == "", "the ceremony ends"


def test_another_accounts_passkey_is_refused(ada, user, make_user):
    bobs = SoftAuthenticator()
    add_passkey(make_user("bob@example.com"), bobs)
    forged = {**options_from(ada, OPTIONS), "allowCredentials": []}  # Bob's authenticator answers anyway
    response = post_json(ada, CONFIRM, {"credential": bobs.get(forged), "next": ENROL_PAGE})
    assert response.status_code == 400 and response.json() == {"error": NOT_HERS}
    assert reauthenticated() == []
    assert ada.get(ENROL_PAGE)["Location"].startswith(REAUTH_PAGE)
    failed = SecurityEvent.objects.get(kind=Event.SIGNIN_FAILED, method="passkey")
    assert (failed.user, failed.reason) == (user, "reauth")


def test_a_replayed_assertion_is_refused(ada, authenticator, clock):
    options = options_from(ada, OPTIONS)
    challenge_cookie = ada.cookies[CHALLENGE_COOKIE].value
    body = {"credential": authenticator.get(options), "next": ENROL_PAGE}
    assert post_json(ada, CONFIRM, body).status_code == 200
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 1)  # the confirmation lapses; try the same answer
    ada.cookies[CHALLENGE_COOKIE] = challenge_cookie
    again = post_json(ada, CONFIRM, body)
    assert again.status_code == 400 and again.json() == {"error": NO_REQUEST}
    assert len(reauthenticated()) == 1
    assert ada.get(ENROL_PAGE)["Location"].startswith(REAUTH_PAGE)


def test_an_assertion_without_user_verification_is_refused(ada, authenticator):
    response = confirm(ada, authenticator, user_verified=False)
    assert response.status_code == 400 and response.json() == {"error": NOT_VERIFIED}
    assert reauthenticated() == []
    assert ada.get(ENROL_PAGE)["Location"].startswith(REAUTH_PAGE)


def test_a_sign_in_challenge_does_not_re_authenticate(ada, authenticator):
    credential = authenticator.get(options_from(ada, SIGNIN_OPTIONS))
    response = post_json(ada, CONFIRM, {"credential": credential, "next": ENROL_PAGE})
    assert response.status_code == 400 and response.json() == {"error": NO_REQUEST}
    assert reauthenticated() == []


def test_a_challenge_given_to_another_session_does_not_re_authenticate(ada, user, authenticator, browser):
    """A thief who copies the challenge cookie (or the whole answer) into another session of hers."""
    options = options_from(ada, OPTIONS)
    other = browser()
    assert passkey_signin(other, authenticator).status_code == 200
    other.cookies[CHALLENGE_COOKIE] = ada.cookies[CHALLENGE_COOKIE].value
    response = post_json(other, CONFIRM, {"credential": authenticator.get(options), "next": ENROL_PAGE})
    assert response.status_code == 400 and response.json() == {"error": NO_REQUEST}
    assert reauthenticated() == []


def test_without_a_signed_in_session_it_does_nothing(user, ada_key, authenticator):
    stranger = Client()
    assert post_json(stranger, OPTIONS)["Location"].startswith("/accounts/login/")
    answer = {"credential": authenticator.get({"rpId": "testserver", "challenge": "AAAA"}), "next": ENROL_PAGE}
    assert post_json(stranger, CONFIRM, answer)["Location"].startswith("/accounts/login/")
    assert not SecurityEvent.objects.exists()


def test_passkey_failures_count_on_the_re_authentication_limit(ada, authenticator):
    """signin-ip-account allows 5 failures in 15 minutes: wrong passwords and refused passkeys alike."""
    for _attempt in range(3):
        assert ada.post(REAUTH_PAGE, {"password": "not it", "next": ENROL_PAGE}).status_code == 400
    for _attempt in range(2):
        assert confirm(ada, authenticator, user_verified=False).status_code == 400
    throttled = confirm(ada, authenticator)
    assert throttled.status_code == 429 and "Too many attempts" in throttled.json()["error"]
    assert int(throttled["Retry-After"]) > 0
    assert ada.post(REAUTH_PAGE, {"password": PASSWORD, "next": ENROL_PAGE}).status_code == 429
    assert reauthenticated() == []
    assert SecurityEvent.objects.filter(kind=Event.SIGNIN_THROTTLED, method="passkey", reason="reauth").exists()


def test_a_right_passkey_gives_the_attempts_back(ada, authenticator):
    for _attempt in range(4):
        assert confirm(ada, authenticator, user_verified=False).status_code == 400
    assert confirm(ada, authenticator).status_code == 200
    assert ada.post(REAUTH_PAGE, {"password": "not it", "next": ENROL_PAGE}).status_code == 400, "not 429"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/\\evil.example", "evil.example", 7])
def test_it_continues_only_to_a_page_of_this_site(ada, authenticator, target):
    assert confirm(ada, authenticator, next_url=target).json() == {"redirect": "/accounts/security/"}


def test_her_password_alone_leads_on_to_her_second_factor(ada, user):
    """Her passkey is her highest level: a right password (say, a thief's) proves nothing yet."""
    response = ada.post(REAUTH_PAGE, {"password": PASSWORD, "next": ENROL_PAGE})
    assert response.status_code == 302 and response["Location"] == "/accounts/mfa/"
    assert reauthenticated() == []
    assert ada.get(ENROL_PAGE)["Location"].startswith(REAUTH_PAGE)


def test_another_second_factor_is_one_link_away(ada):
    page = ada.get(REAUTH_PAGE, {"next": ENROL_PAGE}).content.decode()
    assert "with=second-factor" in page
    asked = ada.get(REAUTH_PAGE, {"next": ENROL_PAGE, "with": "second-factor"})
    assert asked.status_code == 302 and asked["Location"] == "/accounts/mfa/"
