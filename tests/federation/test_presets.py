"""The presets' rules (federation/presets.py, github.py), each attacked against a real provider on
loopback: Google's two issuers, Entra's tenants and its unverified addresses, GitHub's user id and
verified primary address (a fake GitHub: tests/federation/fake_github.py)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from accounts.models import SecurityEvent, User
from federation import github
from federation.models import Provider, UpstreamLink
from identity.cookies import cookie_name

from .browsing import at_provider, sign_in_through, signed_in_as, to_provider
from .entra import OTHER_TENANT, TENANT, Entra
from .fake_github import FakeGitHub

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind


def refused(response, reason: str, browser: Client, slug: str) -> bool:
    """The refusal page for `reason`, nobody signed in, and its audit row."""
    assert f'data-refusal="{reason}"' in response.content.decode(), response.content.decode()[:2000]
    assert signed_in_as(browser) is None
    return SecurityEvent.objects.filter(kind=Event.SIGNIN_FAILED, method="fed", reason=f"{slug}:{reason}").exists()


def make_provider(slug: str, kind: str, issuer: str, client_id: str, secret: str, **fields) -> Provider:
    made = Provider(slug=slug, name=slug.title(), kind=kind, issuer=issuer, client_id=client_id, **fields)
    made.client_secret = secret
    made.full_clean()
    made.save()
    return made


# Google: https://accounts.google.com or accounts.google.com, for this kind only.


@pytest.fixture
def google(db, upstream) -> Provider:
    # The loopback provider stands for accounts.google.com: its scheme-less form is its host and port.
    return make_provider(
        "acme", "google", upstream.issuer, upstream.client_id, upstream.client_secret, may_create_accounts=True
    )


def scheme_less(upstream) -> str:
    return urlsplit(upstream.issuer).netloc


def test_google_tokens_may_name_the_issuer_without_its_scheme_and_find_the_same_link(google, upstream):
    first = Client()
    sign_in_through(first)
    grace = signed_in_as(first)
    upstream.misbehave.token_issuer = scheme_less(upstream)

    second = Client()
    done = sign_in_through(second)

    assert done.status_code == 302 and signed_in_as(second) == grace
    assert list(UpstreamLink.objects.values_list("issuer", flat=True)) == [upstream.issuer]


def test_only_google_takes_the_issuer_without_its_scheme(provider, upstream):
    upstream.misbehave.token_issuer = scheme_less(upstream)
    browser = Client()

    assert refused(sign_in_through(browser), "token", browser, "acme") and not User.objects.exists()


@pytest.mark.parametrize(
    "issuer",
    [
        lambda upstream: upstream.issuer.replace("http://", "https://"),
        lambda upstream: scheme_less(upstream) + "/",
        lambda upstream: "accounts.google.com.evil.example",
        lambda upstream: upstream.issuer + "/tenant",
    ],
    ids=["other-scheme", "trailing-slash", "lookalike", "with-path"],
)
def test_google_takes_no_other_form_of_its_issuer(google, upstream, issuer):
    upstream.misbehave.token_issuer = issuer(upstream)
    browser = Client()

    assert refused(sign_in_through(browser), "token", browser, "acme") and not User.objects.exists()


def test_the_google_preset_defaults():
    from federation.presets import preset_for

    assert preset_for("google").defaults() == {
        "kind": "google",
        "name": "Google",
        "issuer": "https://accounts.google.com",
        "scopes": "openid email profile",
    }


# Microsoft Entra ID: one tenant, or many through the {tenantid} template, and xms_edov.


@pytest.fixture
def entra():
    server = Entra().start()
    yield server
    server.stop()


def entra_provider(entra: Entra, tenant: str = "organizations", **fields) -> Provider:
    fields.setdefault("may_create_accounts", True)
    return make_provider("acme", "entra", entra.authority(tenant), entra.client_id, entra.client_secret, **fields)


def test_entra_for_one_tenant_signs_in_its_people(db, entra):
    entra.edov = True
    entra_provider(entra, TENANT)
    browser = Client()

    assert sign_in_through(browser).status_code == 302
    link = UpstreamLink.objects.get(user=signed_in_as(browser))
    assert link.issuer == entra.authority(TENANT)


def test_entra_for_one_tenant_refuses_another_tenants_token(db, entra):
    """Both of its forms: the other tenant's issuer, and this tenant's issuer with another `tid`."""
    entra.edov = True
    entra_provider(entra, TENANT)
    entra.tenant = OTHER_TENANT
    browser = Client()
    assert refused(sign_in_through(browser), "token", browser, "acme")

    entra.misbehave.token_issuer = entra.authority(TENANT)
    other = Client()
    assert refused(sign_in_through(other), "token", other, "acme") and not User.objects.exists()


def test_entra_for_many_tenants_takes_each_tenants_own_issuer(db, entra):
    entra.edov = True
    entra_provider(entra)
    browser = Client()
    assert sign_in_through(browser).status_code == 302

    entra.tenant, entra.person.subject, entra.person.email = OTHER_TENANT, "someone-else", "ada@example.net"
    other = Client()
    assert sign_in_through(other).status_code == 302
    assert set(UpstreamLink.objects.values_list("issuer", flat=True)) == {
        entra.authority(TENANT),
        entra.authority(OTHER_TENANT),
    }


def test_entra_for_many_tenants_refuses_a_tenant_not_allowed(db, entra):
    """The classic multi-tenant bug: discovery says "organizations", so every tenant's token would
    pass a check against the template alone. Only the allowed tenants' people sign in."""
    entra.edov = True
    entra_provider(entra, allowed_tenants=TENANT)
    entra.tenant = OTHER_TENANT
    browser = Client()

    assert refused(sign_in_through(browser), "token", browser, "acme") and not User.objects.exists()

    entra.tenant = TENANT
    allowed = Client()
    assert sign_in_through(allowed).status_code == 302 and signed_in_as(allowed) is not None


@pytest.mark.parametrize(
    "issuer",
    [
        lambda entra: entra.authority(OTHER_TENANT),  # another tenant's issuer than its tid
        lambda entra: entra.authority("{tenantid}"),  # the template itself
        lambda entra: entra.authority("organizations"),
        lambda entra: f"https://login.evil.example/{TENANT}/v2.0",  # the tenant on another host
        lambda entra: entra.authority(TENANT) + "/",
    ],
    ids=["other-tenant", "template", "organizations", "other-host", "trailing-slash"],
)
def test_entra_for_many_tenants_pins_the_issuer_to_the_tokens_own_tid(db, entra, issuer):
    entra.edov = True
    entra_provider(entra, allowed_tenants=TENANT)
    entra.misbehave.token_issuer = issuer(entra)
    browser = Client()

    assert refused(sign_in_through(browser), "token", browser, "acme") and not User.objects.exists()


@pytest.mark.parametrize("tid", [None, "not-a-guid", "{tenantid}"], ids=["absent", "not-a-guid", "template"])
def test_entra_refuses_a_token_without_a_tenant_id(db, entra, tid):
    entra.edov = True
    entra_provider(entra)
    entra.person.claims["tid"] = tid
    if tid is None:
        entra.misbehave.token_issuer = entra.authority(TENANT)
    browser = Client()

    assert refused(sign_in_through(browser), "token", browser, "acme") and not User.objects.exists()


@pytest.mark.parametrize("edov", [None, False, "true", 1], ids=["absent", "false", "string", "one"])
def test_an_entra_address_is_unverified_unless_xms_edov_is_true(db, entra, make_user, edov):
    """Entra's `email` is set by the tenant: without xms_edov true it neither creates nor matches an
    account, whatever `email_verified` the token might carry. (From a provider that may not create
    accounts it is refused outright; one that may mails it first, test_verify.py.)"""
    entra.edov = edov
    entra.person.claims["email_verified"] = True
    entra_provider(entra, may_create_accounts=False)
    browser = Client()
    assert refused(sign_in_through(browser), "unverified", browser, "acme") and not User.objects.exists()

    make_user("grace@example.org")
    other = Client()
    assert refused(sign_in_through(other), "unverified", other, "acme") and not UpstreamLink.objects.exists()


def test_an_entra_link_signs_in_whatever_xms_edov_says_later(db, entra):
    entra.edov = True
    entra_provider(entra)
    sign_in_through(Client())
    grace = User.objects.get()
    entra.edov = None

    browser = Client()
    assert sign_in_through(browser).status_code == 302 and signed_in_as(browser) == grace


def test_entra_is_found_at_its_authority_and_sends_no_iss_parameter(db, entra):
    entra_provider(entra)
    assert to_provider(Client()).startswith(entra.issuer + "/authorize?")
    assert entra.fetches["/organizations/v2.0/.well-known/openid-configuration"] == 1


# GitHub: OAuth 2.0, the numeric id, only the verified primary address.


@pytest.fixture
def fake_github():
    server = FakeGitHub().start()
    yield server
    server.stop()


@pytest.fixture
def github_provider(db, fake_github) -> Provider:
    return make_provider(
        "github",
        "github",
        fake_github.base,
        fake_github.client_id,
        fake_github.client_secret,
        scopes="read:user user:email",
        may_create_accounts=True,
    )


def test_github_signs_up_with_its_verified_primary_address_and_links_the_numeric_id(github_provider, fake_github):
    browser = Client()
    done = sign_in_through(browser, "github", "/accounts/security/")

    assert done.status_code == 302 and done["Location"] == "/accounts/security/"
    user = User.objects.get(email="grace@example.org")
    assert signed_in_as(browser) == user and user.email_verified
    link = UpstreamLink.objects.get(user=user)
    assert (link.issuer, link.subject) == (fake_github.base, "4242")
    assert fake_github.requests["/api/v3/user"] == 1 and fake_github.requests["/api/v3/user/emails"] == 1


def test_the_github_request_carries_state_and_pkce_s256_and_its_scopes(github_provider, fake_github):
    query = parse_qs(urlsplit(to_provider(Client(), "github")).query)

    assert urlsplit(to_provider(Client(), "github")).path == "/login/oauth/authorize"
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 20 and "nonce" not in query
    assert query["scope"] == ["read:user user:email"]


@pytest.mark.parametrize(
    "emails",
    [
        [{"email": "grace@example.org", "primary": True, "verified": False}],
        [
            {"email": "other@example.org", "primary": True, "verified": False},
            {"email": "grace@example.org", "primary": False, "verified": True},
        ],
        [{"email": "grace@example.org", "primary": "true", "verified": "true"}],
        [],
    ],
    ids=["unverified-primary", "verified-non-primary", "strings", "none"],
)
def test_github_takes_only_a_verified_primary_address(github_provider, fake_github, make_user, emails):
    fake_github.user.emails = emails
    browser = Client()
    assert refused(sign_in_through(browser, "github"), "unverified", browser, "github")
    assert not User.objects.exists()

    make_user("grace@example.org")
    other = Client()
    assert refused(sign_in_through(other, "github"), "unverified", other, "github")
    assert not UpstreamLink.objects.exists()


def test_a_github_profiles_public_address_is_never_read(github_provider, fake_github, make_user):
    """Anyone can type someone else's address as their public profile email."""
    victim = make_user("victim@example.org")
    fake_github.user.email = "victim@example.org"
    fake_github.user.emails = [{"email": "mallory@example.org", "primary": True, "verified": False}]
    browser = Client()

    assert refused(sign_in_through(browser, "github"), "unverified", browser, "github")
    assert not UpstreamLink.objects.exists() and User.objects.get() == victim
    assert not SecurityEvent.objects.filter(user=victim).exists()


def test_a_renamed_github_login_still_finds_the_link(github_provider, fake_github):
    sign_in_through(Client(), "github")
    grace = User.objects.get()
    fake_github.user.login = "grace-hopper"
    fake_github.user.emails = [{"email": "hopper@example.org", "primary": True, "verified": True}]

    browser = Client()
    assert sign_in_through(browser, "github").status_code == 302 and signed_in_as(browser) == grace
    assert User.objects.count() == 1


def test_a_github_login_taken_over_by_someone_else_is_not_the_link(github_provider, fake_github):
    """A login freed by a rename can be taken by another account: a new id is another person."""
    sign_in_through(Client(), "github")
    grace = User.objects.get()
    fake_github.user.id = 9001
    fake_github.user.emails = [{"email": "mallory@example.org", "primary": True, "verified": True}]

    browser = Client()
    sign_in_through(browser, "github")
    assert signed_in_as(browser) != grace and signed_in_as(browser).email == "mallory@example.org"


@pytest.mark.parametrize("user_id", [None, "4242", True, 0], ids=["absent", "string", "bool", "zero"])
def test_github_without_a_numeric_user_id_signs_nobody_in(github_provider, fake_github, user_id):
    fake_github.user.id = user_id  # type: ignore[assignment]
    browser = Client()
    assert refused(sign_in_through(browser, "github"), "token", browser, "github") and not User.objects.exists()


def test_github_with_a_wrong_client_secret_signs_nobody_in(github_provider, fake_github):
    fake_github.client_secret = "another-secret"
    browser = Client()
    assert refused(sign_in_through(browser, "github"), "token", browser, "github")
    assert fake_github.requests["/api/v3/user"] == 0


def test_a_replayed_github_callback_finds_the_code_spent(github_provider, fake_github, settings):
    browser = Client()
    callback = at_provider(to_provider(browser, "github"))
    ticket = browser.cookies[cookie_name("federation")].value
    assert browser.get(callback).status_code == 302
    del browser.cookies[settings.SESSION_COOKIE_NAME]

    browser.cookies[cookie_name("federation")] = ticket  # kept by an attacker
    assert refused(browser.get(callback), "token", browser, "github") and UpstreamLink.objects.count() == 1


def test_github_com_uses_its_api_host_and_an_enterprise_server_its_api_path():
    assert github.api_base(Provider(kind="github", issuer="https://github.com")) == "https://api.github.com"
    assert (
        github.api_base(Provider(kind="github", issuer="https://git.example.com")) == "https://git.example.com/api/v3"
    )


@pytest.mark.parametrize(
    ("iss", "signs_in"),
    [
        (lambda entra: entra.authority(TENANT), True),  # a tenant's issuer, as a many-tenant response would name it
        (lambda entra: entra.issuer, False),  # the base
        (lambda entra: entra.authority("organizations"), False),
        (lambda entra: f"https://login.evil.example/{TENANT}/v2.0", False),
    ],
    ids=["tenant-issuer", "base", "organizations", "other-host"],
)
def test_an_entra_response_naming_an_issuer_must_name_a_tenants_own(db, entra, iss, signs_in):
    """Entra sends no RFC 9207 `iss`; if a many-tenant response carried one, only a tenant's issuer on
    its own host could be it, checked before the code is spent."""
    entra.edov = True
    entra_provider(entra)
    entra.misbehave.omit_iss_parameter, entra.misbehave.iss_parameter = False, iss(entra)
    browser = Client()

    done = sign_in_through(browser)

    if signs_in:
        assert signed_in_as(browser) is not None
    else:
        assert refused(done, "issuer", browser, "acme") and entra.token_requests == 0


def test_a_links_issuer_is_the_providers_as_links_store_it():
    """What a mailed link's stored `iss` is checked against when it is confirmed (verify.py): Entra with
    many tenants stores each tenant's own issuer (its tenant still allowed), GitHub its base without
    the "/"."""
    from federation.presets import links_issuer

    tenant, other = "9188040d-6c67-4c5b-b112-36a304b66dad", "72f988bf-86f1-41af-91ab-2d7cd011db47"
    many = Provider(kind="entra", issuer="https://login.example/organizations/v2.0")
    assert links_issuer(many, f"https://login.example/{tenant}/v2.0")
    assert not links_issuer(many, "https://login.example/organizations/v2.0")
    assert not links_issuer(many, f"https://elsewhere.example/{tenant}/v2.0")
    many.allowed_tenants = other
    assert not links_issuer(many, f"https://login.example/{tenant}/v2.0")
    assert links_issuer(Provider(kind="github", issuer="https://github.com/"), "https://github.com")
    assert links_issuer(Provider(kind="oidc", issuer="https://idp.example"), "https://idp.example")
    assert not links_issuer(Provider(kind="oidc", issuer="https://idp.example"), "https://other.example")
