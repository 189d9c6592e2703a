"""A verification link opened again after the address is verified says so and offers the way on
(issue 19); any other token still gets the invalid page, revealing nothing."""

from __future__ import annotations

import pytest
from django.core import signing
from django.test import Client

from accounts import tokens
from accounts.tokens import make_verification_token
from tests.users import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def unverified(make_user):
    return make_user("new@example.com", email_verified=False)


def open_link(c: Client, token: str):
    c.get(f"/accounts/verify/{token}/")
    return c.get("/accounts/verify/confirm/")


def verify(token: str) -> None:
    c = Client()
    open_link(c, token)
    assert c.post("/accounts/verify/confirm/").status_code == 302


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_used_link_says_already_verified_and_offers_sign_in(unverified, language):
    token = make_verification_token(unverified)
    verify(token)
    page = open_link(Client(HTTP_ACCEPT_LANGUAGE=language), token)
    assert page.status_code == 200
    body = page.content.decode()
    heading = {"en": "Your email address is already verified", "de": "Ihre E-Mail-Adresse ist bereits bestätigt"}
    assert heading[language] in body and 'href="/accounts/login/"' in body
    assert "no longer valid" not in body and "nicht mehr gültig" not in body


def test_signed_in_it_offers_the_account_instead(unverified):
    token = make_verification_token(unverified)
    verify(token)
    c = Client()
    assert c.post("/accounts/login/", {"email": unverified.email, "password": PASSWORD}).status_code == 302
    body = open_link(c, token).content.decode()
    assert "already verified" in body and 'class="button primary" href="/accounts/"' in body


def test_a_forged_token_naming_a_verified_account_learns_nothing(user):
    """Attacking test: a made-up fingerprint, or another account's, for a verified account."""
    assert user.email_verified
    forged = signing.dumps({"u": user.pk, "f": "0" * 32}, salt=tokens.SALT)
    other = tokens.User(email="someone@example.com", email_verified=False)
    foreign = signing.dumps({"u": user.pk, "f": tokens._fingerprint(other)}, salt=tokens.SALT)
    for token in (forged, foreign, "garbage"):
        page = open_link(Client(), token)
        assert page.status_code == 400 and "no longer valid" in page.content.decode()


def test_a_link_for_an_address_since_changed_is_just_invalid(unverified):
    token = make_verification_token(unverified)
    verify(token)
    unverified.refresh_from_db()
    unverified.email = "moved@example.com"
    unverified.save()
    page = open_link(Client(), token)
    assert page.status_code == 400 and "already verified" not in page.content.decode()
