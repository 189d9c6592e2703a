"""Home-realm discovery (federation/realm.py, accounts/realms.py): an email domain bound to a provider
signs in there and only there. Each rule attacked against the real provider on loopback."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from accounts.models import OutboxMail, SecurityEvent, User
from federation.models import Provider, UpstreamLink
from tests.users import PASSWORD, add_totp

from .browsing import at_provider, sign_in_through, signed_in_as
from .upstream import Upstream

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind


@pytest.fixture
def bound(provider) -> Provider:
    """Acme, with example.org bound to it (the loopback provider's person is grace@example.org)."""
    provider.bound_domains = "example.org"
    provider.save()
    return provider


@pytest.fixture
def beta(db):
    """A second real provider, with its own Provider row."""
    server = Upstream(slug="beta").start()
    made = Provider(
        slug="beta", name="Beta", issuer=server.issuer, client_id=server.client_id, may_create_accounts=True
    )
    made.client_secret = server.client_secret
    made.save()
    yield server, made
    server.stop()


def post_signin(browser: Client, email: str, password: str = PASSWORD, next_url: str = "/accounts/security/"):
    return browser.post("/accounts/login/", {"email": email, "password": password, "next": next_url})


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def realm_target(page) -> str:
    """Where the sign-in page's answer for a bound domain moves on to (its meta refresh and its link)."""
    html = page.content.decode()
    found = re.search(r'<meta http-equiv="refresh" content="0;url=([^"]+)">', html)
    assert page.status_code == 200 and found, html[:2000]
    target = found[1].replace("&amp;", "&")
    assert f'href="{found[1]}" data-realm-continue' in html
    return target


# The sign-in page


def test_a_bound_domain_s_address_goes_to_its_provider_with_login_hint_and_next(bound):
    target = realm_target(post_signin(Client(), "someone@example.org", password=""))

    assert urlsplit(target).path == "/accounts/federation/acme/"
    assert query_of(target) == {"login_hint": ["someone@example.org"], "next": ["/accounts/security/"]}


def test_the_password_is_never_checked_and_the_answer_is_the_same_for_every_address(bound, make_user):
    """No account enumeration: an existing account with its right password, one with a wrong password,
    and an address with no account all get the same redirect (but for the hint), no password is
    counted or audited, and nobody is signed in."""
    make_user("grace@example.org")
    answers = []
    for email, password in [
        ("grace@example.org", PASSWORD),
        ("grace@example.org", "wrong"),
        ("nobody@example.org", PASSWORD),
        ("nobody@example.org", ""),
    ]:
        browser = Client()
        done = post_signin(browser, email, password)
        assert signed_in_as(browser) is None
        page = re.sub(
            r'name="csrfmiddlewaretoken" value="[^"]*"', "", done.content.decode()
        )  # the footer's, per browser
        answers.append(page.replace(email.replace("@", "%40"), "ADDRESS"))
        assert realm_target(done)
    assert len(set(answers)) == 1
    assert not SecurityEvent.objects.filter(kind__in=[Event.SIGNIN_FAILED, Event.SIGNIN_SUCCEEDED]).exists()


def test_the_domain_matches_whatever_the_case_but_not_a_subdomain_or_lookalike(bound, make_user):
    assert "login_hint=Someone%40example.org" in realm_target(post_signin(Client(), "Someone@EXAMPLE.org", ""))
    for email in ["grace@mail.example.org", "grace@example.org.evil.test", "grace@xexample.org"]:
        make_user(email)
        browser = Client()
        done = post_signin(browser, email)
        assert done.status_code == 302 and "/federation/" not in done["Location"], email
        assert signed_in_as(browser).email == email


def test_a_disabled_provider_binds_nothing(bound, make_user):
    """Disabling the provider gives its domain's accounts their passwords back (nobody is stranded)."""
    make_user("grace@example.org")
    Provider.objects.filter(pk=bound.pk).update(enabled=False)
    browser = Client()

    done = post_signin(browser, "grace@example.org")

    assert done["Location"] == "/accounts/security/" and signed_in_as(browser) is not None


def test_an_unbound_domain_signs_in_with_its_password_as_before(bound, make_user):
    make_user("ada@example.com")
    browser = Client()
    assert post_signin(browser, "ada@example.com")["Location"] == "/accounts/security/"
    assert signed_in_as(browser).email == "ada@example.com"


def test_the_whole_round_trip_keeps_login_hint_and_next(bound, upstream):
    browser = Client()
    start = realm_target(post_signin(browser, "grace@example.org", ""))
    to_provider = browser.get(start)
    assert query_of(to_provider["Location"])["login_hint"] == ["grace@example.org"]

    done = browser.get(at_provider(to_provider["Location"]))

    assert done.status_code == 302 and done["Location"] == "/accounts/security/"
    assert signed_in_as(browser).email == "grace@example.org"


@pytest.mark.parametrize("hint", ["not an address", "a@b@example.org", "x" * 250 + "@example.org"])
def test_a_login_hint_that_is_no_address_is_not_passed_on(bound, hint):
    started = Client().get("/accounts/federation/acme/", {"login_hint": hint})
    assert started.status_code == 302 and "login_hint" not in query_of(started["Location"])


# Existing accounts in a bound domain: never signed in or linked by the address (test_password_way.py
# has the way their owners sign in with the password, then link)


def test_an_existing_account_in_a_bound_domain_is_never_signed_in_or_linked_by_its_verified_address(
    bound, upstream, make_user
):
    """Issue 15's rule is absolute: the provider's verified address of an existing account, even in
    the domain bound to it, neither signs in to nor links that account."""
    grace = make_user("grace@example.org")
    browser = Client()

    done = browser.get(at_provider(browser.get(realm_target(post_signin(browser, grace.email, "")))["Location"]))

    assert done.status_code == 409 and 'data-refusal="email_taken"' in done.content.decode()
    assert signed_in_as(browser) is None and not UpstreamLink.objects.exists()
    assert SecurityEvent.objects.filter(user=grace, kind=Event.SIGNIN_FAILED, reason="acme:email_taken").exists()
    assert not SecurityEvent.objects.filter(kind__in=[Event.UPSTREAM_LINKED, Event.SIGNIN_SUCCEEDED]).exists()


def test_an_existing_account_with_a_second_factor_is_neither_signed_in_nor_asked_for_it(bound, make_user):
    grace = make_user("grace@example.org")
    add_totp(grace)
    browser = Client()

    done = sign_in_through(browser, next_url="/accounts/security/")

    assert done.status_code == 409 and signed_in_as(browser) is None
    assert browser.get("/accounts/mfa/")["Location"].startswith("/accounts/login/")  # no pending sign-in
    assert not UpstreamLink.objects.exists()


def test_another_provider_s_verified_address_never_links_a_bound_domain_s_account(bound, beta, make_user):
    """Binding example.org to Acme trusts Acme, not Beta: Beta's verified grace@example.org is refused
    as always (the takeover class of flows.py)."""
    grace = make_user("grace@example.org")
    browser = Client()

    done = sign_in_through(browser, slug="beta")

    assert done.status_code == 409 and 'data-refusal="email_taken"' in done.content.decode()
    assert signed_in_as(browser) is None and not UpstreamLink.objects.filter(user=grace).exists()


def test_an_allowed_domain_is_no_bound_domain(provider, make_user):
    """allowed_email_domains says where accounts may be created, not who is authoritative."""
    Provider.objects.filter(pk=provider.pk).update(allowed_email_domains="example.org")
    make_user("grace@example.org")
    browser = Client()
    assert sign_in_through(browser).status_code == 409 and not UpstreamLink.objects.exists()


def test_an_unverified_address_in_a_bound_domain_never_links(bound, upstream, make_user, deliver_outbox):
    """Bound or not, an unverified address matches nothing: it is mailed (test_verify.py), and the click
    finds the account and links nothing."""
    from .test_verify import come_back, confirm, mailed_link

    grace = make_user("grace@example.org")
    upstream.person.email_verified = None
    browser = Client()

    come_back(browser)
    assert signed_in_as(browser) is None and not UpstreamLink.objects.exists()
    done = confirm(browser, mailed_link(deliver_outbox))
    assert done.status_code == 409 and signed_in_as(browser) is None
    assert not UpstreamLink.objects.exists() and User.objects.get() == grace


def test_a_reassigned_address_does_not_hand_over_the_account(bound, upstream, make_user):
    """The account is linked to Acme's subject 1 already; Acme now gives grace@example.org to subject 2
    (a new person at the organisation): no second link, no sign-in."""
    sign_in_through(Client())
    grace = User.objects.get(email="grace@example.org")
    upstream.person.subject = "upstream-user-2"
    browser = Client()

    done = sign_in_through(browser)

    assert done.status_code == 409 and signed_in_as(browser) is None
    assert list(UpstreamLink.objects.values_list("subject", flat=True)) == ["upstream-user-1"]
    assert grace.upstream_links.count() == 1


def test_a_deactivated_account_in_a_bound_domain_is_refused(bound, make_user):
    make_user("grace@example.org", is_active=False)
    browser = Client()
    assert sign_in_through(browser).status_code == 409 and signed_in_as(browser) is None
    assert not UpstreamLink.objects.exists()


# Sign-up, password reset and the address change


@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_a_bound_domain_cannot_sign_up_with_a_password(bound, make_user, existing):
    if existing:
        make_user("grace@example.org")
    users = User.objects.count()

    page = Client().post("/accounts/signup/", {"email": "grace@example.org", "password": "a long enough password 1"})

    html = page.content.decode()
    assert page.status_code == 400 and "Addresses at example.org sign in with Acme" in html
    assert 'href="/accounts/federation/acme/?login_hint=grace%40example.org"' in html and "Sign up with Acme" in html
    assert User.objects.count() == users and not OutboxMail.objects.exists()


@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_a_bound_domain_gets_no_reset_mail_but_its_provider(bound, make_user, existing):
    if existing:
        make_user("grace@example.org")

    page = Client().post("/accounts/password/reset/", {"email": "grace@example.org"})

    html = page.content.decode()
    assert page.status_code == 200 and 'data-realm="example.org"' in html and "Continue with Acme" in html
    assert not OutboxMail.objects.exists()
    assert not SecurityEvent.objects.filter(kind=Event.PASSWORD_RESET_REQUESTED).exists()


def test_an_account_cannot_move_into_a_bound_domain(bound, make_user):
    """Else a password account in the domain would be one address change away from sign-up's refusal."""
    make_user("ada@example.com")
    browser = Client()
    assert post_signin(browser, "ada@example.com").status_code == 302  # a fresh password sign-in

    page = browser.post("/accounts/email/", {"email": "ada@example.org"})

    assert page.status_code == 400, page
    assert "sign in with Acme, so an account cannot move there" in page.content.decode()
    assert not OutboxMail.objects.filter(kind=OutboxMail.Kind.EMAIL_CHANGE).exists()


# The page's script asks a tiny endpoint


def test_the_realm_endpoint_answers_for_bound_domains_only(bound):
    browser = Client()
    assert browser.get("/accounts/login/realm/", {"domain": "example.org"}).json() == {
        "realm": {"name": "Acme", "domain": "example.org"}
    }
    assert browser.get("/accounts/login/realm/", {"domain": "EXAMPLE.ORG"}).json()["realm"]["name"] == "Acme"
    for domain in ["example.com", "", "grace@example.org", "mail.example.org", "<script>"]:
        assert browser.get("/accounts/login/realm/", {"domain": domain}).json() == {"realm": None}, domain
    Provider.objects.filter(pk=bound.pk).update(enabled=False)
    assert browser.get("/accounts/login/realm/", {"domain": "example.org"}).json() == {"realm": None}


def test_the_realm_endpoint_is_rate_limited(bound, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "signin-realm-ip": "3/5m"}
    browser = Client()
    for _ in range(3):
        assert browser.get("/accounts/login/realm/", {"domain": "example.org"}).status_code == 200

    refused = browser.get("/accounts/login/realm/", {"domain": "example.org"})

    assert refused.status_code == 429 and refused["Content-Type"].startswith("application/json")


# What an admin may bind


@pytest.mark.parametrize(
    ("domains", "says"),
    [
        ("@example.org", "without the “@”"),
        ("Example.org", "in lowercase"),
        ("example", "is not a domain name"),
        ("exa mple..org", "is not a domain name"),
        ("-bad.org", "is not a domain name"),
    ],
)
def test_a_bound_domain_is_a_lowercase_domain_name_without_at(provider, domains, says):
    provider.bound_domains = domains
    with pytest.raises(ValidationError) as error:
        provider.full_clean()
    assert says in " ".join(error.value.message_dict["bound_domains"])


def test_a_domain_is_bound_to_one_provider_only(bound, beta):
    _, other = beta
    other.bound_domains = "example.net, example.org"
    with pytest.raises(ValidationError) as error:
        other.full_clean()
    assert error.value.message_dict["bound_domains"] == [
        "example.org is already bound to Acme: a domain signs in with one provider only."
    ]
    other.bound_domains = "example.net"
    other.full_clean()
    bound.bound_domains = "example.org example.com"
    bound.full_clean()  # its own domains are no conflict


def test_verify_is_no_provider_slug(db):
    made = Provider(slug="verify", name="V", issuer="https://v.example", client_id="x")
    with pytest.raises(ValidationError) as error:
        made.full_clean()
    assert "slug" in error.value.message_dict


def test_another_provider_creates_no_account_in_a_bound_domain(bound, beta, deliver_outbox):
    """Binding example.org to Acme makes Acme the one to vouch for its addresses: Beta's verified
    grace@example.org (an old work address still verified on someone's account there) creates no
    account, so the real Grace is not locked out of her address when she comes through Acme; an
    unverified one is not mailed either."""
    server, _ = beta
    browser = Client()
    refused = sign_in_through(browser, slug="beta")
    assert refused.status_code == 403 and 'data-refusal="not_allowed"' in refused.content.decode()
    assert not User.objects.exists() and signed_in_as(browser) is None

    server.person.email_verified = False
    again = sign_in_through(Client(), slug="beta")
    assert 'data-refusal="unverified"' in again.content.decode()
    assert not deliver_outbox() and not User.objects.exists()

    grace = Client()
    assert sign_in_through(grace).status_code == 302 and signed_in_as(grace).email == "grace@example.org"


def test_a_mailed_link_from_before_the_domain_was_bound_to_another_provider_creates_nothing(
    provider, beta, deliver_outbox
):
    from .test_verify import confirm, mailed_link

    server, _ = beta
    server.person.email_verified = False
    browser = Client()
    assert sign_in_through(browser, slug="beta")["Location"].startswith("/accounts/federation/verify/sent/")
    link = mailed_link(deliver_outbox)
    Provider.objects.filter(pk=provider.pk).update(bound_domains="example.org")

    confirm(browser, link)

    assert not User.objects.exists() and not UpstreamLink.objects.exists()
