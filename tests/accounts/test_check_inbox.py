""" "Check your inbox" names the address the mail went to and offers to send it again (issue 19),
the same whether or not the address already had an account."""

from __future__ import annotations

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

SECRET = "a long enough passphrase 42"


def sign_up(c: Client, email: str):
    response = c.post("/accounts/signup/", {"email": email, "password": SECRET})
    assert response.status_code == 302 and response["Location"] == "/accounts/signup/check-inbox/"
    return c.get("/accounts/signup/check-inbox/")


def without_tokens(html: str) -> str:
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    return re.sub(r'nonce="[^"]+"', "", html)


@pytest.mark.parametrize("language", ["en", "de"])
def test_it_names_the_address_and_offers_to_resend(db, deliver_outbox, language):
    c = Client(HTTP_ACCEPT_LANGUAGE=language)
    body = sign_up(c, "new@example.com").content.decode()
    assert "<strong>new@example.com</strong>" in body
    assert 'action="/accounts/verify/resend/"' in body and 'value="new@example.com"' in body
    deliver_outbox().clear()
    again = c.post("/accounts/verify/resend/", {"email": "new@example.com"})
    assert again.status_code == 302 and again["Location"] == "/accounts/signup/check-inbox/"
    [mail] = deliver_outbox()
    assert mail.to == ["new@example.com"] and "/accounts/verify/" in mail.body


def test_an_existing_address_gets_the_same_page(user):
    """No account enumeration: signing up with a taken address looks exactly like a new one."""
    taken = sign_up(Client(), user.email).content.decode().replace(user.email, "ADDRESS")
    fresh = sign_up(Client(), "fresh@example.com").content.decode().replace("fresh@example.com", "ADDRESS")
    assert without_tokens(taken) == without_tokens(fresh)
    resend_taken = Client().post("/accounts/verify/resend/", {"email": user.email})
    resend_fresh = Client().post("/accounts/verify/resend/", {"email": "fresh@example.com"})
    assert resend_taken.status_code == resend_fresh.status_code == 302
    assert resend_taken["Location"] == resend_fresh["Location"]


def test_resending_is_rate_limited_on_the_same_page(settings, db):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "verify-resend-address": "1/h"}
    c = Client()
    sign_up(c, "new@example.com")
    assert c.post("/accounts/verify/resend/", {"email": "new@example.com"}).status_code == 302
    refused = c.post("/accounts/verify/resend/", {"email": "new@example.com"})
    body = refused.content.decode()
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "Try again in about" in body and "<strong>new@example.com</strong>" in body


def test_a_made_up_address_cookie_is_ignored(db, settings):
    c = Client()
    c.cookies["inbox"] = "victim@example.com"  # unsigned: not ours
    body = c.get("/accounts/signup/check-inbox/").content.decode()
    assert "victim@example.com" not in body and "the address you gave" in body
