"""Signing up and in through an upstream provider, end to end against a real one on loopback."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from accounts.models import SecurityEvent, User
from federation.models import UpstreamLink

from .browsing import sign_in_through, signed_in_as, to_provider

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind


def test_the_first_sign_in_creates_a_verified_account_links_it_and_signs_in(provider, upstream):
    browser = Client()
    done = sign_in_through(browser, next_url="/accounts/security/")

    assert done.status_code == 302 and done["Location"] == "/accounts/security/"
    user = User.objects.get(email="grace@example.org")
    assert user.email_verified and not user.has_usable_password()
    assert signed_in_as(browser) == user
    link = UpstreamLink.objects.get(user=user)
    assert (link.issuer, link.subject, link.provider) == (upstream.issuer, "upstream-user-1", provider)
    events = list(SecurityEvent.objects.filter(user=user).order_by("at").values_list("kind", "method", "reason"))
    assert events == [(Event.UPSTREAM_LINKED, "fed", "acme"), (Event.SIGNIN_SUCCEEDED, "fed", "Acme")]


def test_the_request_carries_state_nonce_and_a_pkce_s256_challenge(provider):
    query = parse_qs(urlsplit(to_provider(Client())).query)

    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 20 and len(query["nonce"][0]) >= 20
    assert query["redirect_uri"] == ["http://testserver/accounts/federation/acme/callback/"]
    assert query["scope"] == ["openid email profile"]


def test_the_start_leaves_nothing_in_a_session(provider):
    """An anonymous browser gets no session (tests/identity/test_anonymous_redis.py): the state rides
    in the signed cookie."""
    from django.conf import settings

    from identity.cookies import cookie_name

    browser = Client()
    to_provider(browser)

    assert settings.SESSION_COOKIE_NAME not in browser.cookies and browser.cookies[cookie_name("federation")].value


def test_a_later_sign_in_finds_the_account_by_its_link_even_after_the_address_changed(provider, upstream):
    sign_in_through(Client())
    user = User.objects.get(email="grace@example.org")
    upstream.person.email = "grace.hopper@example.org"  # the provider let her change it

    browser = Client()
    done = sign_in_through(browser)

    assert done.status_code == 302 and signed_in_as(browser) == user
    assert not User.objects.filter(email="grace.hopper@example.org").exists()
    assert UpstreamLink.objects.get(user=user).last_used_at is not None
    assert SecurityEvent.objects.filter(user=user, kind=Event.UPSTREAM_VERIFIED, reason="acme").count() == 1


def test_the_link_counts_whatever_the_address_says_now(provider, upstream, make_user):
    """Once linked, the address is not what is trusted: an unverified one, or one that now names
    another account, still signs in to the linked account and only to it."""
    sign_in_through(Client())
    grace = User.objects.get(email="grace@example.org")
    make_user("someone@example.org")
    upstream.person.email, upstream.person.email_verified = "someone@example.org", False

    browser = Client()
    sign_in_through(browser)

    assert signed_in_as(browser) == grace


def test_a_next_address_off_this_site_is_dropped(provider):
    browser = Client()
    done = sign_in_through(browser, next_url="https://evil.example/")

    assert done["Location"] == "/accounts/" and signed_in_as(browser) is not None


@pytest.mark.parametrize("page", ["/accounts/login/", "/accounts/signup/"])
def test_the_sign_in_and_sign_up_pages_show_a_button_per_enabled_provider(provider, page):
    from federation.models import Provider

    Provider.objects.create(slug="off", name="Switched Off", issuer="https://off.example", client_id="x", enabled=False)

    html = Client().get(page, {"next": "/accounts/security/"} if page.endswith("login/") else {}).content.decode()

    assert "Continue with Acme" in html and "Switched Off" not in html
    if page.endswith("login/"):
        assert 'href="/accounts/federation/acme/?next=/accounts/security/"' in html


def test_without_providers_the_pages_show_no_buttons(db):
    assert "Continue with" not in Client().get("/accounts/login/").content.decode()


def test_the_account_pages_show_the_sign_in_through_the_provider(provider):
    browser = Client()
    sign_in_through(browser)

    assert browser.get("/accounts/").status_code == 200
    security = browser.get("/accounts/security/")
    assert security.status_code == 200 and "via Acme" in security.content.decode()
