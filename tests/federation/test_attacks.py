"""Each linking and protocol rule of federation/flows.py, attacked against a real provider on loopback.
Every refusal leaves the browser signed out, creates and links nothing, and is in the audit trail."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client

from accounts.models import SecurityEvent, User
from federation.models import Provider, UpstreamLink
from identity.cookies import cookie_name
from tests.users import pass_mfa

from .browsing import at_provider, sign_in_through, signed_in_as, to_provider
from .upstream import Upstream

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind


def refused(response, reason: str, browser: Client) -> bool:
    """The refusal page for `reason`, nobody signed in, and its audit row."""
    assert f'data-refusal="{reason}"' in response.content.decode(), response.content.decode()[:2000]
    assert signed_in_as(browser) is None
    return SecurityEvent.objects.filter(kind=Event.SIGNIN_FAILED, method="fed", reason=f"acme:{reason}").exists()


def _with_query(callback: str, **changes: str) -> str:
    path, _, query = callback.partition("?")
    params = {name: values[0] for name, values in parse_qs(query).items()}
    params.update(changes)
    return f"{path}?{urlencode(params)}"


def test_a_verified_address_of_an_existing_account_never_signs_in_or_links(provider, make_user):
    """The account-takeover class: whoever holds an account at the provider with the victim's address
    must not get the victim's account, nor a link to it."""
    victim = make_user("grace@example.org")
    browser = Client()

    done = sign_in_through(browser)

    assert done.status_code == 409 and refused(done, "email_taken", browser)
    assert "If it is yours, sign in to it with its password or passkey, then link Acme on its" in done.content.decode()
    assert not UpstreamLink.objects.exists() and User.objects.count() == 1
    assert SecurityEvent.objects.get(kind=Event.SIGNIN_FAILED).user == victim


def test_the_address_matches_whatever_its_case(provider, upstream, make_user):
    make_user("Grace@Example.org")
    upstream.person.email = "grace@EXAMPLE.org"
    browser = Client()

    assert refused(sign_in_through(browser), "email_taken", browser)
    assert not UpstreamLink.objects.exists()


@pytest.mark.parametrize("verified", [False, None], ids=["false", "absent"])
def test_an_unverified_address_neither_creates_nor_matches_an_account(provider, upstream, make_user, verified):
    """From a provider that may not create accounts, refused outright; from one that may, our own mail
    verifies it first (test_verify.py)."""
    Provider.objects.filter(pk=provider.pk).update(may_create_accounts=False)
    upstream.person.email_verified = verified
    browser = Client()
    assert refused(sign_in_through(browser), "unverified", browser)
    assert not User.objects.exists()

    make_user("grace@example.org")
    other = Client()
    assert refused(sign_in_through(other), "unverified", other)
    assert not UpstreamLink.objects.exists()


def test_the_string_true_is_no_verified_address(provider, upstream):
    Provider.objects.filter(pk=provider.pk).update(may_create_accounts=False)
    upstream.person.email_verified = "true"  # type: ignore[assignment]  # what some providers send
    browser = Client()
    assert refused(sign_in_through(browser), "unverified", browser)


def test_a_provider_that_may_not_create_accounts_creates_none(provider):
    provider.may_create_accounts = False
    provider.save()
    browser = Client()

    assert refused(sign_in_through(browser), "not_allowed", browser)
    assert not User.objects.exists()


def test_accounts_are_created_only_in_allowed_domains(provider, upstream):
    provider.allowed_email_domains = "acme.example, @corp.example"
    provider.save()
    browser = Client()
    assert refused(sign_in_through(browser), "not_allowed", browser)

    upstream.person.email = "grace@corp.example"
    assert sign_in_through(browser).status_code == 302
    assert signed_in_as(browser).email == "grace@corp.example"


@pytest.mark.parametrize("address", ["not an address", "grace@", "a" * 250 + "@example.org"])
def test_an_address_we_would_not_take_at_sign_up_creates_no_account(provider, upstream, address):
    upstream.person.email = address
    browser = Client()

    assert refused(sign_in_through(browser), "not_allowed", browser)
    assert not User.objects.exists()


def test_a_deactivated_account_cannot_come_back_through_its_link(provider):
    sign_in_through(Client())
    User.objects.update(is_active=False)
    browser = Client()

    done = sign_in_through(browser)

    assert done.status_code == 403 and refused(done, "inactive", browser)


def test_a_disabled_provider_cannot_be_started(provider):
    provider.enabled = False
    provider.save()

    assert Client().get("/accounts/federation/acme/").status_code == 404


def test_a_provider_disabled_mid_sign_in_signs_nobody_in(provider):
    sign_in_through(Client())  # linked
    browser = Client()
    callback = at_provider(to_provider(browser))
    Provider.objects.update(enabled=False)

    assert refused(browser.get(callback), "disabled", browser)


def test_a_callback_without_the_browsers_cookie_fails(provider):
    """Login CSRF: an attacker's own callback URL, opened in the victim's browser, finds no ticket."""
    callback = at_provider(to_provider(Client()))
    victim = Client()

    done = victim.get(callback)

    assert done.status_code == 400 and refused(done, "state", victim)
    assert not User.objects.exists()


def test_a_callback_with_another_state_fails(provider):
    browser = Client()
    callback = at_provider(to_provider(browser))

    done = browser.get(_with_query(callback, state="made-up"))

    assert done.status_code == 400 and refused(done, "state", browser)


def test_a_forged_ticket_cookie_fails(provider):
    browser = Client()
    callback = at_provider(to_provider(browser))
    name = cookie_name("federation")
    browser.cookies[name] = browser.cookies[name].value[:-3] + "AAA"

    assert refused(browser.get(callback), "state", browser)


def test_a_replayed_callback_fails(provider, settings):
    browser = Client()
    callback = at_provider(to_provider(browser))
    ticket = browser.cookies[cookie_name("federation")].value
    assert browser.get(callback).status_code == 302
    del browser.cookies[settings.SESSION_COOKIE_NAME]

    again = browser.get(callback)  # the ticket cookie was deleted
    assert again.status_code == 400 and refused(again, "state", browser)

    browser.cookies[cookie_name("federation")] = ticket  # kept by an attacker: the code is spent
    assert refused(browser.get(callback), "token", browser)


def test_a_callback_for_another_provider_fails(provider, upstream):
    """Mix-up: the ticket names the provider the browser was sent to, and only its callback takes it."""
    second = Upstream(slug="other").start()
    try:
        other = Provider(slug="other", name="Other", issuer=second.issuer, client_id=second.client_id)
        other.client_secret = second.client_secret
        other.save()
        browser = Client()
        callback = at_provider(to_provider(browser, "acme"))

        done = browser.get(callback.replace("/acme/", "/other/"))

        assert "data-refusal" in done.content.decode() and signed_in_as(browser) is None
        assert SecurityEvent.objects.filter(reason="other:state").exists()
        assert upstream.token_requests == second.token_requests == 0
    finally:
        second.stop()


def test_a_response_naming_another_issuer_fails_before_the_code_is_spent(provider, upstream):
    """RFC 9207: an authorization response whose `iss` is another provider's is a mix-up attack."""
    upstream.misbehave.iss_parameter = "https://attacker.example"
    browser = Client()

    assert refused(sign_in_through(browser), "issuer", browser)
    assert upstream.token_requests == 0


def test_a_response_without_iss_fails_when_the_provider_promises_one(provider, upstream):
    upstream.misbehave.omit_iss_parameter = True
    browser = Client()

    assert refused(sign_in_through(browser), "issuer", browser)
    assert upstream.token_requests == 0


def test_an_id_token_for_another_nonce_fails(provider, upstream):
    """A token captured from another sign-in (its nonce) cannot be injected into this one."""
    upstream.misbehave.nonce = "nonce-of-another-sign-in"
    browser = Client()

    assert refused(sign_in_through(browser), "token", browser)
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "misbehaviour",
    [
        {"audience": "another-client"},
        # authlib alone would take this one: it checks `aud` only through `azp` (client.py pins both)
        {"audience": ["another-client"], "azp": "identity-client"},
        {"token_issuer": "https://attacker.example"},
        {"foreign_key": True},
    ],
    ids=["audience", "audience-with-azp", "issuer", "signature"],
)
def test_an_id_token_for_another_client_issuer_or_key_fails(provider, upstream, misbehaviour):
    for name, value in misbehaviour.items():
        setattr(upstream.misbehave, name, value)
    browser = Client()

    assert refused(sign_in_through(browser), "token", browser)
    assert not User.objects.exists()


def test_a_wrong_client_secret_signs_nobody_in(provider):
    provider.client_secret = "not-the-secret"
    provider.save()
    browser = Client()

    assert refused(sign_in_through(browser), "token", browser)


def test_a_cancelled_sign_in_at_the_provider_fails(provider):
    browser = Client()
    callback = at_provider(to_provider(browser))

    done = browser.get(_with_query(callback, error="access_denied"))

    assert done.status_code == 400 and refused(done, "upstream", browser)


def test_an_account_with_an_authenticator_app_is_still_asked_for_it(provider, totp_clock):
    """An upstream sign-in is one factor: the MFA stage applies exactly as after a password."""
    from tests.users import add_totp

    sign_in_through(Client())
    user = User.objects.get()
    add_totp(user)
    browser = Client()

    done = sign_in_through(browser, next_url="/accounts/security/")

    assert done.status_code == 302 and done["Location"] == "/accounts/mfa/"
    assert signed_in_as(browser) is None
    finished = pass_mfa(browser, user)
    assert finished["Location"] == "/accounts/security/" and signed_in_as(browser) == user
    last = SecurityEvent.objects.filter(kind=Event.SIGNIN_SUCCEEDED).order_by("at").last()
    assert last.method == "fed+otp"


def test_the_callback_is_rate_limited(provider, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "federation-ip": "3/5m"}
    browser = Client()
    callback = at_provider(to_provider(browser))  # the start spends one
    browser.get(callback)
    browser.get(callback)

    throttled = browser.get(callback)

    assert throttled.status_code == 429 and "Retry-After" in throttled
    assert SecurityEvent.objects.filter(kind=Event.SIGNIN_THROTTLED, method="fed").exists()


def test_an_unreachable_provider_is_said_so(db):
    broken = Provider(slug="acme", name="Gone", issuer="http://127.0.0.1:9", client_id="x")
    broken.client_secret = "s"
    broken.save()

    done = Client().get("/accounts/federation/acme/")

    assert done.status_code == 502 and 'data-refusal="unreachable"' in done.content.decode()


def test_the_redirect_goes_to_the_discovered_authorization_endpoint(provider, upstream):
    assert urlsplit(to_provider(Client())).netloc == urlsplit(upstream.issuer).netloc


@pytest.mark.parametrize(
    "claims", [{"sub": "x" * 256}, {"sub": 7}, {"email": ["grace@example.org"]}], ids=["long-subject", "number", "list"]
)
def test_claims_that_do_not_fit_are_a_bad_token_not_a_500(provider, upstream, claims):
    """A configured provider's signature says who sent the claims, not that they fit a link."""
    upstream.person.claims.update(claims)
    browser = Client(raise_request_exception=False)
    assert refused(sign_in_through(browser), "token", browser)
    assert not User.objects.exists()
