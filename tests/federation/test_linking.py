"""Linking and unlinking a provider on the security page (federation/linking.py), attacked against the
real provider on loopback; and a link an intruder added, undone by the owner's "This wasn't me"."""

from __future__ import annotations

import re
import threading

import pytest
from django.db import connection, connections
from django.test import Client

from accounts.app_settings import app_settings as accounts_settings
from accounts.models import CredentialEvent, SecurityEvent, User
from federation.models import Provider, UpstreamLink
from identity.cookies import cookie_name
from tests.mfa.pages import REAUTH_PAGE
from tests.mfa.softauthn import SoftAuthenticator
from tests.mfa.test_passkeys import add_passkey, passkey_signin
from tests.users import PASSWORD

from .browsing import at_provider, confirm_with, link_through, provider_url, sign_in_through, signed_in_as

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind
TICKET = cookie_name("federation")
SECURITY = "/accounts/security/"
NOT_ME_LINK = re.compile(r"http://testserver(/accounts/not-me/[^/\s\"]+/)")


def signed_in(email: str = "ada@example.com", **headers) -> Client:
    browser = Client(**headers)
    answer = browser.post("/accounts/login/", {"email": email, "password": PASSWORD})
    assert answer.status_code == 302, answer
    return browser


def unlink(browser: Client, link: UpstreamLink):
    return browser.post(f"/accounts/federation/links/{link.pk}/unlink/")


@pytest.fixture
def ada(make_user, provider):
    return make_user("ada@example.com")


# --- linking ------------------------------------------------------------------------------------------


def test_a_password_account_links_the_provider_after_confirming_it_and_then_signs_in_with_it(
    ada,
    upstream,
    clock,
    deliver_outbox,  # noqa: F811
):
    browser = signed_in()
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 1)
    page = browser.get(SECURITY).content.decode()
    assert "Link Acme" in page

    asked = browser.post("/accounts/federation/acme/link/")
    assert asked["Location"] == f"{REAUTH_PAGE}?next=%2Faccounts%2Fsecurity%2F", "confirm it's you first"
    assert not UpstreamLink.objects.exists()
    assert browser.post(REAUTH_PAGE, {"password": PASSWORD, "next": SECURITY})["Location"] == SECURITY
    done = link_through(browser)

    assert done.status_code == 302 and done["Location"] == SECURITY
    link = UpstreamLink.objects.get(user=ada)
    assert (link.issuer, link.subject, link.email) == (upstream.issuer, "upstream-user-1", "grace@example.org")
    assert SecurityEvent.objects.filter(user=ada, kind=Event.UPSTREAM_LINKED, reason="acme").exists()
    assert CredentialEvent.objects.get(user=ada, kind=CredentialEvent.Kind.UPSTREAM_LINKED).added == {"fed": [link.pk]}
    page = browser.get(SECURITY).content.decode()
    assert "Acme is linked" in page and "grace@example.org" in page and "Link Acme" not in page
    [mail] = [m for m in deliver_outbox() if "sign-in provider was linked" in m.subject]
    assert mail.to == ["ada@example.com"] and "linked to Acme (grace@example.org)" in mail.body
    assert NOT_ME_LINK.search(mail.body), "with its This wasn't me link"

    browser.post("/accounts/logout/")
    again = Client()
    sign_in_through(again)
    assert signed_in_as(again) == ada, "the provider's address is another, the link is what counts"


def test_linking_is_a_post_with_csrf(ada):
    browser = signed_in()
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = browser.cookies
    assert strict.post("/accounts/federation/acme/link/").status_code == 403
    assert browser.get("/accounts/federation/acme/link/").status_code == 405
    assert not UpstreamLink.objects.exists()


def test_an_upstream_identity_linked_to_another_account_stays_with_it(ada, upstream):
    """Grace's account at the provider is linked to her account here: Ada (or whoever holds Ada's
    session) cannot take it over by linking it."""
    sign_in_through(Client())  # creates Grace's account, linked
    grace = User.objects.get(email="grace@example.org")
    browser = signed_in()

    done = link_through(browser)

    assert done.status_code == 409 and 'data-refusal="linked_elsewhere"' in done.content.decode()
    assert list(UpstreamLink.objects.values_list("user", flat=True)) == [grace.pk]
    assert SecurityEvent.objects.filter(user=ada, kind=Event.SIGNIN_FAILED, reason="acme:linked_elsewhere").exists()


def test_linking_the_same_identity_again_changes_nothing(ada, deliver_outbox):
    browser = signed_in()
    link_through(browser)
    deliver_outbox()

    again = link_through(browser)

    assert again["Location"] == SECURITY and UpstreamLink.objects.count() == 1
    assert "already linked" in browser.get(SECURITY).content.decode()
    assert SecurityEvent.objects.filter(kind=Event.UPSTREAM_LINKED).count() == 1
    assert len([m for m in deliver_outbox() if "sign-in provider was linked" in m.subject]) == 1


def test_a_link_ticket_works_only_in_the_session_and_for_the_person_that_started_it(ada, upstream, make_user):
    browser = signed_in()
    started = browser.post("/accounts/federation/acme/link/")
    callback = at_provider(provider_url(started))
    make_user("mallory@example.com")
    other = signed_in("mallory@example.com")
    other.cookies[TICKET] = browser.cookies[TICKET].value

    done = other.get(callback)

    assert done.status_code == 400 and 'data-refusal="session"' in done.content.decode()
    assert not UpstreamLink.objects.exists()


def test_the_link_mail_is_in_the_persons_language(ada, deliver_outbox):
    browser = signed_in(HTTP_ACCEPT_LANGUAGE="de")
    link_through(browser)
    [mail] = [m for m in deliver_outbox() if "Anmeldeanbieter" in m.subject]
    assert "mit Acme verknüpft" in mail.body


# --- unlinking ----------------------------------------------------------------------------------------


def test_the_only_link_of_a_provider_only_account_cannot_be_unlinked(provider):
    browser = Client()
    sign_in_through(browser)
    link = UpstreamLink.objects.get()

    refused = unlink(browser, link)

    assert refused.status_code == 409 and 'data-refusal="last_way_in"' in refused.content.decode()
    assert UpstreamLink.objects.filter(pk=link.pk).exists()


def test_a_password_account_unlinks_and_the_provider_no_longer_signs_in(ada, deliver_outbox):
    browser = signed_in()
    link_through(browser)
    link = UpstreamLink.objects.get()
    deliver_outbox()

    done = unlink(browser, link)

    assert done["Location"] == SECURITY and not UpstreamLink.objects.exists()
    assert "Acme is unlinked" in browser.get(SECURITY).content.decode()
    assert SecurityEvent.objects.filter(user=ada, kind=Event.UPSTREAM_UNLINKED, reason="acme").exists()
    assert [m.to for m in deliver_outbox() if "unlinked" in m.subject] == [["ada@example.com"]]
    stranger = Client()
    sign_in_through(stranger)
    assert signed_in_as(stranger) != ada


def test_unlinking_needs_a_recent_confirmation(ada, clock):
    browser = signed_in()
    link_through(browser)
    clock.advance(accounts_settings.REAUTHENTICATION_TIMEOUT + 1)

    asked = unlink(browser, UpstreamLink.objects.get())

    assert asked["Location"].startswith(REAUTH_PAGE) and UpstreamLink.objects.exists()


def test_nobody_unlinks_another_persons_link(ada, provider):
    sign_in_through(Client())
    graces = UpstreamLink.objects.get()
    browser = signed_in()
    assert unlink(browser, graces)["Location"] == SECURITY
    assert UpstreamLink.objects.filter(pk=graces.pk).exists()


def test_another_link_or_a_passkey_is_another_way_in(provider, upstream):
    """Without a password, the second-to-last link to an enabled provider may go, never the last; a link
    to a disabled provider signs nobody in, so it does not count; a passkey (mfa's FactorKind
    signs_in_alone) is a way in on its own."""
    browser = Client()
    sign_in_through(browser)
    user = User.objects.get()
    first = UpstreamLink.objects.get()
    other = Provider.objects.create(slug="other", name="Other", issuer="https://other.example", client_id="x")
    second = UpstreamLink.objects.create(user=user, provider=other, issuer=other.issuer, subject="s")
    other.enabled = False
    other.save()
    assert unlink(browser, first).status_code == 409, "the other link's provider is turned off"
    other.enabled = True
    other.save()
    assert unlink(browser, second).status_code == 302
    assert unlink(browser, first).status_code == 409, "now the last one"

    key = SoftAuthenticator()
    add_passkey(user, key)
    with_passkey = Client()
    assert passkey_signin(with_passkey, key).status_code == 200
    assert unlink(with_passkey, first).status_code == 302 and not UpstreamLink.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_unlinks_at_once_of_the_last_two_links_leave_one(provider):
    """Both requests would see "one other link is left" if they counted at the same time. The test
    holds the person's row and both links (from a connection of its own) until both requests are
    waiting on a lock, then lets go: the unlinks take the person's row first, so they are decided one
    after the other, and the second sees it would remove the last way in."""
    first_browser = Client()
    sign_in_through(first_browser)
    user = User.objects.get()
    other = Provider.objects.create(slug="other", name="Other", issuer="https://other.example", client_id="x")
    UpstreamLink.objects.create(user=user, provider=other, issuer=other.issuer, subject="s")
    second_browser = Client()
    sign_in_through(second_browser)
    links = list(UpstreamLink.objects.order_by("pk"))

    holder = connections.create_connection("default")
    holder.set_autocommit(False)
    with holder.cursor() as cursor:
        cursor.execute("SELECT 1 FROM accounts_user WHERE id = %s FOR UPDATE", [user.pk])
        cursor.execute("SELECT 1 FROM federation_upstreamlink WHERE user_id = %s FOR UPDATE", [user.pk])
    answers: list = [None, None]

    def run(i: int, browser: Client, link: UpstreamLink) -> None:
        try:
            answers[i] = unlink(browser, link).status_code
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(0, first_browser, links[0])),
        threading.Thread(target=run, args=(1, second_browser, links[1])),
    ]
    for thread in threads:
        thread.start()
    with holder.cursor() as cursor:
        for _ in range(400):  # both requests blocked on a lock (not a timing assertion: a bounded wait)
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid <> pg_backend_pid() "
                "AND pid IN (SELECT pid FROM pg_stat_activity WHERE datname = current_database())"
            )
            if cursor.fetchone()[0] >= 2:
                break
            threading.Event().wait(0.05)
    holder.commit()
    holder.close()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(answers) == [302, 409]
    assert UpstreamLink.objects.filter(user=user).count() == 1


# --- recovery -----------------------------------------------------------------------------------------


def intruder_links_their_own(upstream) -> Client:
    """The intruder has Ada's password, signs in from their own browser (so the session is fresh, a
    recent confirmation) and links their own account at the provider."""
    intruder = signed_in(HTTP_USER_AGENT="Intruder", REMOTE_ADDR="192.0.2.66")
    upstream.person.subject, upstream.person.email = "intruder", "intruder@evil.example"
    assert link_through(intruder)["Location"] == SECURITY
    return intruder


def intruder_gets_in(upstream) -> bool:
    upstream.person.subject, upstream.person.email = "intruder", "intruder@evil.example"
    browser = Client()
    sign_in_through(browser)
    found = signed_in_as(browser)
    return found is not None and found.email == "ada@example.com"


def test_the_security_page_button_removes_the_link_an_intruder_added(ada, upstream, deliver_outbox):
    owner = signed_in(HTTP_USER_AGENT="Laptop")
    intruder_links_their_own(upstream)

    assert owner.post("/accounts/security/not-me/", {"password": PASSWORD})["Location"] == "/accounts/not-me/done/"

    assert not UpstreamLink.objects.filter(user=ada).exists()
    assert SecurityEvent.objects.filter(user=ada, kind=Event.UPSTREAM_UNLINKED, reason="not_me").exists()
    assert not intruder_gets_in(upstream)


def test_the_mailed_link_removes_the_link_an_intruder_added(ada, upstream, deliver_outbox):
    intruder_links_their_own(upstream)
    [mail] = [m for m in deliver_outbox() if "sign-in provider was linked" in m.subject]
    owner = Client()
    stashed = owner.get(NOT_ME_LINK.search(mail.body).group(1))
    assert stashed["Location"] == "/accounts/not-me/confirm/"

    assert owner.post("/accounts/not-me/confirm/").status_code in (200, 302)

    assert not UpstreamLink.objects.filter(user=ada).exists()
    assert not intruder_gets_in(upstream)


def test_the_owners_own_link_stays_when_they_press_the_button_from_a_session_it_signed_in(ada, upstream):
    """The owner linked Acme from one session and signed in through it on another: "This wasn't me"
    from there (after confirming with Acme, as a session without a password must) keeps the link that
    confirmed, as it keeps a passkey it used (SigninState.proved_ids)."""
    link_through(signed_in())
    phone = Client()
    sign_in_through(phone)
    assert signed_in_as(phone) == ada
    assert confirm_with(phone)["Location"] == SECURITY  # what "This wasn't me" asks of a session without a password
    assert phone.post("/accounts/security/not-me/")["Location"] == "/accounts/not-me/done/"
    assert UpstreamLink.objects.filter(user=ada).exists()


def test_linking_makes_the_provider_ask_who_is_signing_in(ada, upstream):
    """Whoever is signed in at the provider in this browser (a planted session, the last user of a shared
    computer) is never linked silently: the link's round trip asks for prompt=login."""
    link_through(signed_in())
    assert upstream.authorizations[-1]["prompt"] == "login"


def test_in_a_bound_domain_the_password_is_no_way_in_to_count_on(make_user, provider, upstream):
    """The sign-in page sends a bound domain's address to its provider and takes the password only once
    that provider vouches for that very address: an account whose only link names another address there
    would be locked out by unlinking it, so the unlink is refused."""
    make_user("alice@corp.example")
    upstream.person.email = "alice.smith@corp.example"
    browser = signed_in("alice@corp.example")  # signed in before the domain was bound
    link_through(browser)
    link = UpstreamLink.objects.get()
    Provider.objects.filter(pk=provider.pk).update(bound_domains="corp.example")

    refused = unlink(browser, link)

    assert refused.status_code == 409 and 'data-refusal="last_way_in"' in refused.content.decode()
    assert UpstreamLink.objects.filter(pk=link.pk).exists()
