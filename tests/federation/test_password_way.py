"""The way back in for an account made with a password before its domain was bound (federation/realm.py):
the provider's verified address never signs in to it or links it; the refusal lets that one browser use
the account's password for that one address, for a few minutes, checked as always; the person then
links the provider from the security page. Each rule attacked against the real provider on loopback."""

from __future__ import annotations

import base64
import json
import re

import pytest
from django.core import signing
from django.test import Client

from accounts.models import SecurityEvent, User
from federation.models import Provider, UpstreamLink
from federation.realm import PASSWORD_COOKIE, PASSWORD_WAY_AGE
from identity.cookies import cookie_name
from tests.users import add_totp, pass_mfa

from .browsing import link_through, sign_in_through, signed_in_as
from .test_realm import beta, bound, post_signin, realm_target  # noqa: F401  # fixtures

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind
COOKIE = cookie_name(PASSWORD_COOKIE)


@pytest.fixture
def grace(bound, make_user) -> User:
    """An account made with a password at grace@example.org (the provider's person), before Acme was
    bound to example.org."""
    return make_user("grace@example.org")


def refused_with_the_way(browser: Client, slug: str = "acme"):
    """The round trip through the provider: its refusal, which offers the password, and sets the cookie."""
    done = sign_in_through(browser, slug=slug, next_url="/accounts/security/")
    html = done.content.decode()
    assert done.status_code == 409 and 'data-refusal="email_taken"' in html, html[:2000]
    assert 'data-password-way="grace@example.org"' in html and "Sign in with your password" in html
    assert 'href="/accounts/login/?next=/accounts/security/" data-password-way-signin' in html
    assert done.cookies[COOKIE]["httponly"] and done.cookies[COOKIE]["max-age"] == PASSWORD_WAY_AGE
    return done


def no_way(done) -> bool:
    """A refusal without the offer, and without the cookie."""
    return "data-password-way" not in done.content.decode() and COOKIE not in done.cookies


def test_the_provider_s_verified_address_never_signs_in_or_links_and_the_refusal_offers_the_password(grace):
    browser = Client()

    refused_with_the_way(browser)

    assert signed_in_as(browser) is None and not UpstreamLink.objects.exists()
    assert SecurityEvent.objects.filter(user=grace, kind=Event.SIGNIN_FAILED, reason="acme:email_taken").exists()


def test_with_the_cookie_the_password_signs_in_to_that_account_and_goes_to_security(grace):
    browser = Client()
    refused_with_the_way(browser)

    page = browser.get("/accounts/login/?next=/accounts/security/")
    html = page.content.decode()
    assert 'value="grace@example.org"' in html and 'data-realm-password-address="grace@example.org"' in html
    assert "Sign in to grace@example.org with its password" in html

    done = post_signin(browser, "grace@example.org")

    assert done.status_code == 302 and done["Location"] == "/accounts/security/"
    assert signed_in_as(browser) == grace
    # Linking is the signed-in person's own act on the security page: nothing was linked yet.
    assert not UpstreamLink.objects.exists()
    assert SecurityEvent.objects.filter(user=grace, kind=Event.SIGNIN_SUCCEEDED, method="pwd").exists()


def test_the_whole_way_password_then_link_on_the_security_page_then_the_provider_signs_in(grace):
    """The rule's own path: sign in to the account by its own means, link from the security page (a
    fresh password sign-in needs no other confirmation), and from then on the provider signs in."""
    browser = Client()
    refused_with_the_way(browser)
    assert post_signin(browser, "grace@example.org")["Location"] == "/accounts/security/"
    assert "Link Acme" in browser.get("/accounts/security/").content.decode()

    done = link_through(browser)

    assert done.status_code == 302 and done["Location"] == "/accounts/security/"
    assert UpstreamLink.objects.get().user == grace
    browser.post("/accounts/logout/")
    again = Client()
    assert sign_in_through(again).status_code == 302 and signed_in_as(again) == grace


def test_the_password_is_checked_as_always(grace):
    browser = Client()
    refused_with_the_way(browser)

    wrong = post_signin(browser, "grace@example.org", password="not the password")

    assert wrong.status_code == 400 and signed_in_as(browser) is None
    assert SecurityEvent.objects.filter(user=grace, kind=Event.SIGNIN_FAILED, method="pwd").exists()


def test_the_password_way_is_limited_like_any_password_sign_in(grace, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "signin-account": "2/15m"}
    browser = Client()
    refused_with_the_way(browser)
    for _ in range(2):
        assert post_signin(browser, "grace@example.org", password="wrong").status_code == 400

    throttled = post_signin(browser, "grace@example.org")

    assert throttled.status_code == 429 and signed_in_as(browser) is None


def test_an_account_with_a_second_factor_is_asked_for_it(grace, totp_clock):
    add_totp(grace)
    browser = Client()
    refused_with_the_way(browser)

    done = post_signin(browser, "grace@example.org")

    assert done["Location"] == "/accounts/mfa/" and signed_in_as(browser) is None
    assert pass_mfa(browser, grace)["Location"] == "/accounts/security/" and signed_in_as(browser) == grace


def test_the_cookie_works_for_its_own_address_only(grace, make_user):
    """Another account in the bound domain, with its right password, still goes to the provider."""
    make_user("ada@example.org")
    browser = Client()
    refused_with_the_way(browser)

    assert realm_target(post_signin(browser, "ada@example.org"))
    assert signed_in_as(browser) is None
    # Its own address, whatever the case, takes the password.
    assert post_signin(browser, "Grace@EXAMPLE.org")["Location"] == "/accounts/security/"


def test_the_cookie_works_in_that_browser_only(grace):
    refused_with_the_way(Client())
    other = Client()

    assert realm_target(post_signin(other, "grace@example.org"))
    assert (
        signed_in_as(other) is None
        and "data-realm-password-address" not in other.get("/accounts/login/").content.decode()
    )


def test_the_cookie_expires_whatever_the_browser_keeps(grace, totp_clock):
    browser = Client()
    refused_with_the_way(browser)
    totp_clock.advance(PASSWORD_WAY_AGE + 5)  # the test client keeps cookies past their Max-Age

    assert realm_target(post_signin(browser, "grace@example.org"))
    assert signed_in_as(browser) is None


def _edited(value: str, email: str) -> str:
    """The cookie's payload swapped for another address, its signature kept."""
    payload = base64.urlsafe_b64encode(json.dumps({"email": email}).encode()).rstrip(b"=").decode()
    return f"{payload}:{value.split(':', 1)[1]}"


def test_the_cookie_cannot_be_forged_or_edited(grace, make_user):
    """ada@example.org (another account of the domain): a cookie edited, made up, or signed for another
    purpose names no address."""
    make_user("ada@example.org")
    browser = Client()
    value = refused_with_the_way(browser).cookies[COOKIE].value
    for forged in [
        _edited(value, "ada@example.org"),
        "ada@example.org",
        signing.dumps({"email": "ada@example.org"}, salt="federation.ticket"),
        signing.dumps({"email": "ada@example.org"}, salt="federation.password-way", key="another key" * 5),
        signing.dumps({"email": ["ada@example.org"]}, salt="federation.password-way"),
    ]:
        attacker = Client()
        attacker.cookies[COOKIE] = forged
        assert realm_target(post_signin(attacker, "ada@example.org")), forged
        assert signed_in_as(attacker) is None


def without_csrf(page) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", page.content.decode())


@pytest.mark.parametrize("state", ["password", "second factor", "no password", "linked", "deactivated", "no account"])
def test_without_the_cookie_every_address_goes_to_the_provider_whatever_the_account(bound, make_user, state):
    """No account enumeration for anyone who has not proved the address at the provider: the sign-in
    page's answer is the same, and checks no password, whatever the account's state."""
    if state != "no account":
        user = make_user("grace@example.org", is_active=state != "deactivated")
        if state == "second factor":
            add_totp(user)
        if state == "no password":
            user.set_unusable_password()
            user.save()
        if state == "linked":
            UpstreamLink.objects.create(user=user, provider=bound, issuer=bound.issuer, subject="s")
    browser = Client()

    page = post_signin(browser, "grace@example.org")

    assert realm_target(page).startswith("/accounts/federation/acme/?login_hint=grace%40example.org")
    # The same page but for the CSRF token (of the footer's language switcher), which differs per browser.
    assert without_csrf(page) == without_csrf(post_signin(Client(), "grace@example.org", password=""))
    assert signed_in_as(browser) is None
    assert not SecurityEvent.objects.filter(kind__in=[Event.SIGNIN_FAILED, Event.SIGNIN_SUCCEEDED]).exists()


def test_the_way_is_offered_by_the_bound_provider_only(grace, beta):  # noqa: F811  # a fixture
    """Beta also vouches for grace@example.org, but the domain is bound to Acme."""
    browser = Client()
    assert no_way(sign_in_through(browser, slug="beta")) and signed_in_as(browser) is None


def test_an_allowed_domain_offers_no_way(provider, make_user):
    Provider.objects.filter(pk=provider.pk).update(allowed_email_domains="example.org")
    make_user("grace@example.org")
    assert no_way(sign_in_through(Client()))


def test_no_way_for_an_unverified_address(grace, upstream):
    """An unverified address is anyone's claim: it is mailed instead (test_verify.py), and no cookie."""
    upstream.person.email_verified = None
    done = sign_in_through(Client())
    assert done["Location"] == "/accounts/federation/verify/sent/?provider=acme" and COOKIE not in done.cookies


@pytest.mark.parametrize("state", ["deactivated", "no password", "linked to acme already"])
def test_no_way_for_an_account_that_could_not_or_must_not_use_it(bound, upstream, make_user, state):
    """A deactivated account; one with no password (made through another provider or a mailed link:
    its own way in is that); one linked to Acme already, to whom Acme now gives the address for
    another subject (a reassigned address: test_realm.py)."""
    user = make_user("grace@example.org", is_active=state != "deactivated")
    if state == "no password":
        user.set_unusable_password()
        user.save()
    if state == "linked to acme already":
        UpstreamLink.objects.create(user=user, provider=bound, issuer=upstream.issuer, subject="an-earlier-person")
    done = sign_in_through(Client())
    assert done.status_code == 409 and no_way(done)


def test_a_disabled_provider_needs_no_way(grace):
    """It binds nothing: the password works for everyone (test_realm.py), and its callback refuses."""
    Provider.objects.filter(slug="acme").update(enabled=False)
    browser = Client()
    assert post_signin(browser, "grace@example.org")["Location"] == "/accounts/security/"
