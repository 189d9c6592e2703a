"""An email-change link opened in another browser says what to do (issue 19), and still changes
nothing without the account's own session."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.users import PASSWORD

pytestmark = pytest.mark.django_db

NEW = "ada.new@example.com"


def sign_in(email: str, **extra) -> Client:
    c = Client(raise_request_exception=False, **extra)
    assert c.post("/accounts/login/", {"email": email, "password": PASSWORD}).status_code == 302
    return c


def confirm_link(user, deliver_outbox) -> str:
    ada = sign_in(user.email)
    assert ada.post("/accounts/email/", {"email": NEW}).status_code == 200
    [mail] = [m for m in deliver_outbox() if m.to == [NEW]]
    found = re.search(r"http://testserver(/accounts/email/confirm/[^\s]+/)", mail.body)
    assert found is not None
    return found[1]


@pytest.mark.parametrize("language", ["en", "de"])
def test_signed_out_it_says_to_sign_in_first_and_the_link_alone_changes_nothing(user, deliver_outbox, language):
    path = confirm_link(user, deliver_outbox)
    stranger = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE=language)
    stranger.get(path)
    page = stranger.get("/accounts/email/confirm/")
    body = page.content.decode()
    assert page.status_code == 403
    said = {"en": "or sign in first and then open it again", "de": "oder melden Sie sich zuerst an"}
    assert said[language] in body
    assert 'href="/accounts/login/?next=%2Faccounts%2Femail%2Fconfirm%2F"' in body
    assert user.email not in body, "the page names no account to whoever holds the link"
    # Attacking test: posting the confirmation with the link alone changes nothing.
    assert stranger.post("/accounts/email/confirm/").status_code == 403
    user.refresh_from_db()
    assert user.email == "ada@example.com"


def test_signed_in_as_someone_else_it_says_so(user, make_user, deliver_outbox):
    path = confirm_link(user, deliver_outbox)
    bob = sign_in(make_user("bob@example.com").email)
    bob.get(path)
    page = bob.get("/accounts/email/confirm/")
    body = page.content.decode()
    assert page.status_code == 403
    assert "You are signed in as <strong>bob@example.com</strong>" in body and user.email not in body
    assert bob.post("/accounts/email/confirm/").status_code == 403
    user.refresh_from_db()
    assert user.email == "ada@example.com"


def test_signing_in_there_then_confirms(user, deliver_outbox):
    path = confirm_link(user, deliver_outbox)
    other = Client(raise_request_exception=False)
    other.get(path)
    assert other.get("/accounts/email/confirm/").status_code == 403
    assert other.post("/accounts/login/", {"email": user.email, "password": PASSWORD}).status_code == 302
    assert other.post("/accounts/email/confirm/").status_code == 302
    user.refresh_from_db()
    assert user.email == NEW


def test_a_garbage_link_still_says_invalid(db):
    c = Client(raise_request_exception=False)
    c.get("/accounts/email/confirm/garbage/")
    page = c.get("/accounts/email/confirm/")
    assert page.status_code == 400 and "no longer valid" in page.content.decode()
