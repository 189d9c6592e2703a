"""Passkey challenges without server state until they are answered (issue 13, section 5).

Options are anonymous and cheap, so they must not write to Redis: the challenge rides in a signed,
expiring HttpOnly cookie. These tests play the attacker who then tries what a server-side challenge
used to stop: keeping the cookie the server told the browser to drop and replaying an answer, forging
or moving a challenge, and filling Redis with options and answers from a passkey nobody registered.
"""

from __future__ import annotations

import pytest
from django.core import signing
from django.test import Client
from webauthn.helpers import bytes_to_base64url

from identity.cookies import cookie_name
from identity.redis import connection
from mfa.passkeys.auth import CHALLENGE_COOKIE, CHALLENGE_SALT

from .pages import is_signed_in
from .softauthn import SoftAuthenticator
from .test_passkeys import (
    CANNOT_SIGN_IN,
    NO_REQUEST,
    REGISTER,
    REGISTER_OPTIONS,
    SIGNIN,
    SIGNIN_OPTIONS,
    add_passkey,
    options_from,
    post_json,
    refused,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator()


@pytest.fixture
def ada_key(user, authenticator):
    return add_passkey(user, authenticator)


def _cookie(c: Client) -> str:
    return c.cookies[cookie_name(CHALLENGE_COOKIE)].value


def _browser_with(cookie: str) -> Client:
    """Another browser, given the challenge cookie an attacker kept (or made)."""
    other = Client(raise_request_exception=False)
    other.cookies[cookie_name(CHALLENGE_COOKIE)] = cookie
    return other


def test_options_store_nothing_in_redis_and_give_the_challenge_in_an_httponly_cookie(client):
    for _ in range(50):
        options_from(Client(), SIGNIN_OPTIONS)
    response = client.post(SIGNIN_OPTIONS, "{}", content_type="application/json")
    cookie = response.cookies[cookie_name(CHALLENGE_COOKIE)]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    assert signing.loads(cookie.value, salt=CHALLENGE_SALT)["challenge"] == response.json()["challenge"]
    assert [key.split(b":")[1] for key in connection().keys("*")] == [b"passkey-ip"], "only the address's counter"


@pytest.mark.parametrize("counts", [True, False], ids=["counting", "synced-always-0"])
def test_an_answer_cannot_be_replayed_by_keeping_the_cookie(authenticator, ada_key, counts):
    """The server drops the cookie after an answer, but an attacker need not: the first use is recorded."""
    authenticator.credentials[0].counts = counts
    first = Client(raise_request_exception=False)
    body = {"credential": authenticator.get(options_from(first, SIGNIN_OPTIONS))}
    kept = _cookie(first)
    assert post_json(first, SIGNIN, body).status_code == 200
    assert first.cookies[cookie_name(CHALLENGE_COOKIE)].value == "", "the answered challenge is dropped"

    replay = _browser_with(kept)
    assert refused(post_json(replay, SIGNIN, body), NO_REQUEST)
    assert not is_signed_in(replay)


def test_a_refused_answer_from_a_registered_passkey_uses_the_challenge_up(user, authenticator, ada_key):
    """Refused for who it is (here: a deactivated account), the answer cannot be sent again once that changes."""
    from accounts.models import User

    User.objects.filter(pk=user.pk).update(is_active=False)
    c = Client(raise_request_exception=False)
    body = {"credential": authenticator.get(options_from(c, SIGNIN_OPTIONS))}
    kept = _cookie(c)
    assert refused(post_json(c, SIGNIN, body), CANNOT_SIGN_IN)
    User.objects.filter(pk=user.pk).update(is_active=True)
    again = _browser_with(kept)
    assert refused(post_json(again, SIGNIN, body), NO_REQUEST)
    assert not is_signed_in(again)


def test_answers_from_a_passkey_nobody_registered_write_nothing(user, ada_key, generous_limits):
    stranger = SoftAuthenticator()
    stranger.new_credential("testserver", b"\x03" * 16)
    for _ in range(100):
        c = Client(raise_request_exception=False)
        body = {"credential": stranger.get(options_from(c, SIGNIN_OPTIONS))}
        kept = _cookie(c)
        assert refused(post_json(c, SIGNIN, body), CANNOT_SIGN_IN)
        assert refused(post_json(_browser_with(kept), SIGNIN, body), CANNOT_SIGN_IN)  # kept cookie: still nothing
    assert [key.split(b":")[1] for key in connection().keys("*")] == [b"passkey-ip"]


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda stored: signing.dumps(stored, salt="another-salt"), id="another-salt"),
        pytest.param(lambda stored: signing.dumps(stored, salt=CHALLENGE_SALT)[:-2] + "xx", id="tampered"),
        pytest.param(
            lambda stored: signing.dumps({**stored, "purpose": "register"}, salt=CHALLENGE_SALT), id="other-purpose"
        ),
    ],
)
def test_a_challenge_the_site_did_not_sign_for_this_purpose_is_refused(authenticator, ada_key, forge, clock):
    """The attacker picks a challenge (say, one a phished authenticator already signed) and makes the cookie."""
    chosen = bytes_to_base64url(b"\x07" * 32)
    stored = {"purpose": "authenticate", "challenge": chosen, "user": None, "at": clock.now()}
    c = _browser_with(forge(stored))
    body = {"credential": authenticator.get({"challenge": chosen, "rpId": "testserver"})}
    assert refused(post_json(c, SIGNIN, body), NO_REQUEST)
    assert not is_signed_in(c)


def test_a_registration_challenge_belongs_to_the_person_it_was_made_for(signed_in_client, make_user):
    """Mallory's registration challenge, planted in Ada's browser, does not register a passkey for Ada."""
    from mfa.models import Passkey
    from tests.users import PASSWORD

    mallory = make_user("mallory@example.com")
    theirs = Client(raise_request_exception=False)
    assert theirs.post("/accounts/login/", {"email": mallory.email, "password": PASSWORD}).status_code == 302
    options = options_from(theirs, REGISTER_OPTIONS)
    signed_in_client.cookies[cookie_name(CHALLENGE_COOKIE)] = _cookie(theirs)
    credential = SoftAuthenticator().create(options)
    assert refused(post_json(signed_in_client, REGISTER, {"credential": credential}), NO_REQUEST)
    assert not Passkey.objects.exists()
