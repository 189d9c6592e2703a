"""Confirm it's you through a provider (federation/linking.py), attacked against the real provider on
loopback: the account is the one created through it (no password), its session older than
REAUTHENTICATION_TIMEOUT, so every sensitive change sends it to "Confirm it's you" first."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import SecurityEvent, User
from accounts.signin_state import SigninState
from federation.models import UpstreamLink
from identity.cookies import cookie_name
from tests.mfa.pages import ENROL_PAGE, MFA_PAGE, REAUTH_PAGE, device_of, enrol_through_pages
from tests.users import PASSWORD, add_totp

from .browsing import at_provider, confirm_with, provider_url, sign_in_through, signed_in_as, to_provider

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind
TICKET = cookie_name("federation")
CONFIRM = "/accounts/federation/acme/confirm/"


@pytest.fixture
def grace(provider, clock):
    """A provider-only account, signed in through Acme long enough ago that changes need confirming."""
    browser = Client()
    sign_in_through(browser)
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 1)
    return browser, User.objects.get(email="grace@example.org")


def later_fed(browser: Client) -> bool:
    return any(factor.later and factor.method == "fed" for factor in SigninState(browser.session).factors)


def refused(response, reason: str) -> bool:
    return f'data-refusal="{reason}"' in response.content.decode()


def test_a_provider_only_account_confirms_with_its_provider_and_adds_an_authenticator_app(grace, upstream):
    browser, user = grace
    asked = browser.get(ENROL_PAGE)
    assert asked["Location"] == f"{REAUTH_PAGE}?next=%2Faccounts%2Fsecurity%2Ftotp%2Fadd%2F"
    page = browser.get(asked["Location"]).content.decode()
    assert "Confirm with Acme" in page and 'name="password"' not in page, "no password to ask for"
    assert "Your account has no password." in page

    started = browser.post(CONFIRM, {"next": ENROL_PAGE})
    query = parse_qs(urlsplit(provider_url(started)).query)
    assert query["prompt"] == ["login"] and query["max_age"] == ["0"]
    done = browser.get(at_provider(provider_url(started)))

    assert done.status_code == 302 and done["Location"] == ENROL_PAGE
    assert later_fed(browser) and signed_in_as(browser) == user
    assert SecurityEvent.objects.filter(user=user, kind=Event.REAUTHENTICATED, method="fed", reason="acme").exists()
    enrolled, _ = enrol_through_pages(browser)
    assert enrolled["Location"] == "/accounts/security/recovery-codes/" and device_of(user) is not None
    assert UpstreamLink.objects.get(user=user).last_used_at is not None


def test_a_fed_session_reproves_its_sign_in_for_this_wasnt_me(grace):
    """reproves_signin: a session that signed in through a provider proves it again through it."""
    browser, user = grace
    asked = browser.post("/accounts/security/not-me/")
    assert asked["Location"] == f"{REAUTH_PAGE}?next=%2Faccounts%2Fsecurity%2Fnot-me%2F"  # then back to confirm
    assert confirm_with(browser, next_url="/accounts/security/not-me/")["Location"] == "/accounts/security/not-me/"

    assert browser.post("/accounts/security/not-me/")["Location"] == "/accounts/not-me/done/"
    assert SecurityEvent.objects.filter(user=user, kind=Event.NOT_ME).exists()


def test_a_stale_upstream_session_is_refused(grace, upstream):
    """A provider that ignores prompt=login answers from the person's session of an hour ago: that
    confirms nothing, since whoever sits at that browser now need not be them."""
    browser, user = grace
    upstream.misbehave.ignore_prompt = True
    upstream.authenticated_at = int(time.time()) - 3600

    done = confirm_with(browser, next_url=ENROL_PAGE)

    assert done.status_code == 403 and refused(done, "stale")
    assert not later_fed(browser) and browser.get(ENROL_PAGE)["Location"].startswith(REAUTH_PAGE)
    assert SecurityEvent.objects.filter(user=user, kind=Event.SIGNIN_FAILED, reason="acme:stale").exists()
    assert not SecurityEvent.objects.filter(kind=Event.REAUTHENTICATED).exists()


def test_an_id_token_without_auth_time_confirms_nothing(grace, upstream):
    browser, _ = grace
    upstream.misbehave.omit_auth_time = True

    done = confirm_with(browser)

    assert done.status_code == 403 and refused(done, "stale") and not later_fed(browser)


def test_another_persons_upstream_account_is_refused(grace, upstream, make_user):
    """Someone at Grace's browser signs in at the provider as themselves (linked to their own account
    here, or to none): that does not confirm Grace."""
    browser, user = grace
    other = make_user("mallory@example.org")
    UpstreamLink.objects.create(
        user=other, provider=UpstreamLink.objects.get(user=user).provider, issuer=upstream.issuer, subject="mallory"
    )
    for subject in ("mallory", "nobody-linked"):
        upstream.person.subject = subject

        done = confirm_with(browser)

        assert done.status_code == 403 and refused(done, "not_linked") and not later_fed(browser)
        assert signed_in_as(browser) == user, "nor does it sign in as the other account"
    assert SecurityEvent.objects.filter(user=user, kind=Event.SIGNIN_FAILED, reason="acme:not_linked").count() == 2


def test_a_reauth_ticket_signs_nobody_in_elsewhere(grace, upstream):
    """The confirmation's ticket carried to a browser that is not signed in (or any other) is refused
    before the code is spent, and signs nobody in."""
    browser, _ = grace
    started = browser.post(CONFIRM, {"next": "/accounts/security/"})
    callback = at_provider(provider_url(started))
    elsewhere = Client()
    elsewhere.cookies[TICKET] = browser.cookies[TICKET].value
    spent = upstream.token_requests

    done = elsewhere.get(callback)

    assert done.status_code == 400 and refused(done, "session") and signed_in_as(elsewhere) is None
    assert upstream.token_requests == spent


def test_a_ticket_bound_to_another_session_or_person_fails(grace, upstream, make_user):
    browser, user = grace
    second = Client()
    sign_in_through(second)  # Grace again, in another browser: another session
    started = browser.post(CONFIRM, {"next": "/accounts/security/"})
    second.cookies[TICKET] = browser.cookies[TICKET].value

    assert refused(second.get(at_provider(provider_url(started))), "session") and not later_fed(second)

    # The same browser, signed out and signed in as someone else meanwhile: the ticket was Grace's.
    started = browser.post(CONFIRM, {"next": "/accounts/security/"})
    browser.post("/accounts/logout/")
    make_user("ada@example.com")
    assert browser.post("/accounts/login/", {"email": "ada@example.com", "password": PASSWORD}).status_code == 302
    assert refused(browser.get(at_provider(provider_url(started))), "session") and not later_fed(browser)


def test_an_anonymous_ticket_confirms_no_signed_in_account(grace, upstream, make_user):
    """A sign-in's ticket (from a browser that was not signed in) used in Ada's session is a sign-in,
    never a confirmation of Ada: it records no re-authentication and ends up signed in as whom the
    provider vouched for."""
    browser, user = grace
    ada = make_user("ada@example.com")
    victim = Client()
    assert victim.post("/accounts/login/", {"email": ada.email, "password": PASSWORD}).status_code == 302
    anonymous = Client()
    callback = at_provider(to_provider(anonymous))
    victim.cookies[TICKET] = anonymous.cookies[TICKET].value

    victim.get(callback)

    assert not SecurityEvent.objects.filter(user=ada, kind=Event.REAUTHENTICATED).exists()
    assert signed_in_as(victim) != ada and not later_fed(victim)


def test_confirming_needs_a_linked_enabled_provider(grace, provider):
    browser, _ = grace
    UpstreamLink.objects.all().delete()
    assert browser.post(CONFIRM, {"next": "/"}).status_code == 403
    provider.enabled = False
    provider.save()
    assert browser.post(CONFIRM, {"next": "/"}).status_code == 404
    assert Client().post(CONFIRM)["Location"].startswith("/accounts/login/"), "signed-in people only"


def test_a_second_factor_is_still_asked_for(grace, upstream):
    """fed replaces the password, never a second factor: with an authenticator app the page goes to
    the challenge, and a confirmation through the provider does not open the enrolment."""
    browser, user = grace
    add_totp(user)
    assert browser.get(REAUTH_PAGE, {"next": ENROL_PAGE})["Location"] == MFA_PAGE

    assert confirm_with(browser, next_url=ENROL_PAGE)["Location"] == ENROL_PAGE
    assert browser.get(ENROL_PAGE)["Location"].startswith(REAUTH_PAGE)


def test_a_password_account_keeps_its_password_and_may_also_confirm_with_its_provider(provider, make_user):
    ada = make_user("ada@example.com")
    browser = Client()
    browser.post("/accounts/login/", {"email": ada.email, "password": PASSWORD})
    page = browser.get(REAUTH_PAGE).content.decode()
    assert 'name="password"' in page and "Confirm with" not in page

    UpstreamLink.objects.create(user=ada, provider=provider, issuer=provider.issuer, subject="upstream-user-1")
    page = browser.get(REAUTH_PAGE).content.decode()
    assert 'name="password"' in page and "Confirm with Acme" in page
