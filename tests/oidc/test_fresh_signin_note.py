"""prompt=login and max_age without server state (issue 13, section 5).

The request a fresh sign-in was asked for rides in a signed, expiring cookie instead of a Redis
session. These tests play someone at an unlocked computer with a stale session who wants an app's
"sign in again" to pass without the password: a made-up note, a note minted for another request,
an expired one, one from before the current sign-in. None of them counts; only a sign-in made after
the note was issued does.
"""

from __future__ import annotations

import hashlib
import time

import pytest
from django.core import signing

from identity.cookies import cookie_name
from identity.redis import connection
from oidc.flows import FRESH_SIGNIN_COOKIE, FRESH_SIGNIN_SALT, FRESH_SIGNIN_WINDOW
from tests.oidc.relying_party import approve, backdate_signin, sign_in_with_password

from .test_protocol import code_from, is_signin_page

pytestmark = pytest.mark.django_db


def _request_id(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:32]


def _plant(browser, note: dict, salt: str = FRESH_SIGNIN_SALT) -> None:
    browser.cookies[cookie_name(FRESH_SIGNIN_COOKIE)] = signing.dumps(note, salt=salt)


@pytest.mark.parametrize("extra", [{"prompt": "login"}, {"max_age": "0"}])
def test_the_anonymous_detour_stores_nothing_and_the_sign_in_still_counts_as_fresh(rp, client, user, extra):
    request = rp.authorization(**extra)
    first = client.get(request["url"])
    assert is_signin_page(first)
    assert connection().keys("session:*") == [], "the detour to the sign-in page stored a session"
    note = first.cookies[cookie_name(FRESH_SIGNIN_COOKIE)]
    assert note["httponly"] and note["samesite"] == "Lax" and int(note["max-age"]) == FRESH_SIGNIN_WINDOW

    back = sign_in_with_password(client, user.email, request["url"])
    response = approve(client, back["Location"])
    code_from(rp, response, request)
    assert response.cookies[cookie_name(FRESH_SIGNIN_COOKIE)].value == "", (
        "the note is dropped once its request is answered"
    )


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda url: ({"request": _request_id(url), "at": 0}, "another-salt"), id="signed-with-another-salt"
        ),
        pytest.param(
            lambda url: ({"request": _request_id(url + "&x=1"), "at": 0}, FRESH_SIGNIN_SALT), id="for-another-request"
        ),
        pytest.param(lambda url: ({"at": 0}, FRESH_SIGNIN_SALT), id="for-no-request"),
    ],
)
def test_a_note_the_site_did_not_issue_for_this_request_does_not_skip_the_fresh_sign_in(rp, signed_in_client, forge):
    rp.sign_in_and_redeem(signed_in_client)
    backdate_signin(signed_in_client, 60)
    request = rp.authorization(prompt="login")
    note, salt = forge(request["url"])
    _plant(signed_in_client, note, salt)
    assert is_signin_page(signed_in_client.get(request["url"]))


def test_a_made_up_cookie_is_ignored(rp, signed_in_client):
    rp.sign_in_and_redeem(signed_in_client)
    backdate_signin(signed_in_client, 60)
    request = rp.authorization(prompt="login")
    signed_in_client.cookies[cookie_name(FRESH_SIGNIN_COOKIE)] = '{"request": "x", "at": 0}'
    assert is_signin_page(signed_in_client.get(request["url"]))


def test_a_note_does_not_stand_for_a_sign_in_made_before_it(rp, signed_in_client):
    """The stale session gets a genuine note by asking; without signing in again it is still stale."""
    rp.sign_in_and_redeem(signed_in_client)
    backdate_signin(signed_in_client, 60)
    request = rp.authorization(prompt="login")
    assert is_signin_page(signed_in_client.get(request["url"]))
    assert cookie_name(FRESH_SIGNIN_COOKIE) in signed_in_client.cookies
    assert is_signin_page(signed_in_client.get(request["url"]))


def test_an_expired_note_does_not_count(rp, signed_in_client, user, monkeypatch):
    rp.sign_in_and_redeem(signed_in_client)
    request = rp.authorization(prompt="login")
    assert is_signin_page(signed_in_client.get(request["url"]))
    sign_in_with_password(signed_in_client, user.email, request["url"], prompt="login")
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + FRESH_SIGNIN_WINDOW + 5)
    assert is_signin_page(signed_in_client.get(request["url"])), "a note past its window still counted"
