"""Trusting a provider's second factors (federation/assurance.py), attacked against the real provider on
loopback: only with Provider.trust_upstream_mfa on, and only for an `amr` that says more than a password.
Then the sign-in passes our second-factor stage and the MFA policy, and relying apps hear amr
["fed", "mfa"]; it never re-authenticates here, and it is never a passkey."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory

from accounts.flows.signin import begin_signin
from accounts.models import SecurityEvent, User
from accounts.signin_state import SigninState
from oidc.assurance import ACR_1FA, ACR_MFA, ACR_PHR
from tests.oidc.relying_party import RelyingParty, register
from tests.users import add_totp, pass_mfa

from .browsing import sign_in_through, signed_in_as

pytestmark = pytest.mark.django_db

Event = SecurityEvent.Kind

# What real providers send when the person used two factors there (Entra ID, Okta and Identity itself
# say "mfa"; Keycloak's amr mapper names the factors).
COUNTED = [
    ["mfa"],
    ["pwd", "mfa"],
    ["pwd", "otp"],
    ["otp", "pwd", "mfa"],
    ["hwk", "pin"],
    ["swk", "fpt"],
    ["sc", "pin"],
]
# One factor, a weak second one, values outside the registry, and what is no list of strings at all.
NOT_COUNTED = [
    ["pwd"],
    ["otp"],
    ["hwk"],
    ["hwk", "user"],
    ["pwd", "sms"],
    ["pwd", "tel"],
    ["pwd", "kba"],
    ["pwd", "fido"],
    ["MFA"],
    [],
    [["mfa"]],
    [{"value": "mfa"}],
    [1, 2],
    "",
    0,
    {},
]
# OpenID Connect Core says amr is an array of strings: authlib, which validates the token, refuses the
# whole ID token when it is anything else (and not empty), so such a sign-in does not happen at all.
MALFORMED = ["mfa", "pwd mfa", {"mfa": True}, True, 1]


@pytest.fixture
def trusted(provider):
    provider.trust_upstream_mfa = True
    provider.save()
    return provider


def an_account_with_an_authenticator_app() -> User:
    """Grace's account, made through the provider, now also holding an authenticator app of ours."""
    sign_in_through(Client())
    user = User.objects.get()
    add_totp(user)
    return user


def relying_app_claims(browser: Client, **request) -> dict:
    return RelyingParty(*register(skip_authorization=True)).sign_in_and_redeem(browser, **request)["claims"]


@pytest.mark.parametrize("amr", COUNTED, ids=str)
def test_a_trusted_providers_second_factor_passes_ours_and_relying_apps_hear_mfa(trusted, upstream, amr, totp_clock):
    user = an_account_with_an_authenticator_app()
    upstream.person.amr = amr
    browser = Client()

    done = sign_in_through(browser)

    assert done.status_code == 302 and done["Location"] == "/accounts/", "not asked for our authenticator app"
    assert signed_in_as(browser) == user
    assert SigninState(browser.session).signin_methods() == {"fed", "upstream_mfa"}
    assert SecurityEvent.objects.filter(kind=Event.SIGNIN_SUCCEEDED).first().method == "fed+upstream_mfa"
    claims = relying_app_claims(browser, acr_values=ACR_MFA)
    assert claims["amr"] == ["fed", "mfa"] and claims["acr"] == ACR_MFA, "no factor named that we did not see"


@pytest.mark.parametrize("amr", [["mfa"], ["pwd", "otp"]], ids=str)
def test_with_trust_off_an_upstream_mfa_changes_nothing(provider, upstream, amr, totp_clock):
    """The default: whatever the provider says, its sign-in is one factor here."""
    assert provider.trust_upstream_mfa is False
    user = an_account_with_an_authenticator_app()
    upstream.person.amr = amr
    browser = Client()

    assert sign_in_through(browser)["Location"] == "/accounts/mfa/", "asked for our factor"
    assert signed_in_as(browser) is None
    pass_mfa(browser, user)
    assert SigninState(browser.session).signin_methods() == {"fed", "otp"}
    assert relying_app_claims(browser)["amr"] == ["fed", "otp", "mfa"], "our factor, not the provider's"


@pytest.mark.parametrize("amr", NOT_COUNTED, ids=str)
def test_a_trusted_provider_saying_no_more_than_one_factor_or_garbage_changes_nothing(
    trusted, upstream, amr, totp_clock
):
    an_account_with_an_authenticator_app()
    upstream.person.amr = amr
    browser = Client()

    assert sign_in_through(browser)["Location"] == "/accounts/mfa/"
    assert signed_in_as(browser) is None


@pytest.mark.parametrize("amr", MALFORMED, ids=str)
def test_an_amr_that_is_no_array_is_a_token_authlib_refuses(trusted, upstream, amr):
    upstream.person.amr = amr
    browser = Client()

    done = sign_in_through(browser)

    assert done.status_code == 403 and 'data-refusal="token"' in done.content.decode()
    assert signed_in_as(browser) is None and not User.objects.exists()


@pytest.mark.parametrize("amr", [["pwd"], [["mfa"]], None], ids=str)
def test_relying_apps_hear_one_factor_after_a_trusted_providers_one_factor_sign_in(trusted, upstream, amr):
    upstream.person.amr = amr
    browser = Client()
    sign_in_through(browser)

    claims = relying_app_claims(browser)

    assert claims["amr"] == ["fed"] and claims["acr"] == ACR_1FA


def test_with_trust_off_relying_apps_hear_no_mfa(provider, upstream):
    upstream.person.amr = ["pwd", "mfa"]
    browser = Client()
    sign_in_through(browser)

    claims = relying_app_claims(browser)

    assert claims["amr"] == ["fed"] and claims["acr"] == ACR_1FA


def test_a_relying_app_asking_for_mfa_after_a_one_factor_upstream_sign_in_still_asks_for_our_factor(
    trusted, upstream, totp_clock
):
    upstream.person.amr = ["pwd"]
    browser = Client()
    sign_in_through(browser)
    user = User.objects.get()
    add_totp(user)  # enrolled elsewhere: this session proved only the provider's one factor
    rp = RelyingParty(*register(skip_authorization=True))
    request = rp.authorization(acr_values=ACR_MFA)

    assert browser.get(request["url"])["Location"] == "/accounts/mfa/"
    assert pass_mfa(browser, user)["Location"] == request["url"]
    claims = rp.sign_in_and_redeem(browser, acr_values=ACR_MFA)["claims"]
    assert claims["acr"] == ACR_MFA and claims["amr"] == ["fed", "otp", "mfa"]


def test_a_relying_app_asking_for_mfa_of_an_account_without_our_factor_hears_it_cannot_be_met(trusted, upstream):
    upstream.person.amr = ["pwd"]
    browser = Client()
    sign_in_through(browser)
    rp = RelyingParty(*register(skip_authorization=True))
    request = rp.authorization(acr_values=ACR_MFA)

    assert rp.callback(browser.get(request["url"]))["error"] == "insufficient_user_authentication"


def test_a_trusted_upstream_security_key_is_no_passkey_here(trusted, upstream):
    """phr is a user-verified passkey of ours: a provider's word that it saw a hardware key is mfa."""
    upstream.person.amr = ["hwk", "user", "mfa"]
    browser = Client()
    sign_in_through(browser)
    rp = RelyingParty(*register(skip_authorization=True))

    assert relying_app_claims(browser, acr_values=ACR_MFA)["acr"] == ACR_MFA
    request = rp.authorization(acr_values=ACR_PHR)
    assert rp.callback(browser.get(request["url"]))["error"] == "insufficient_user_authentication"


@pytest.mark.parametrize("policy", ["all", "flag"])
def test_a_trusted_upstream_mfa_meets_the_mfa_policy_and_an_untrusted_one_does_not(
    provider, upstream, settings, policy
):
    sign_in_through(Client())
    user = User.objects.get()
    if policy == "all":
        settings.MFA_REQUIRED = "all"
    else:
        User.objects.filter(pk=user.pk).update(mfa_required=True)
    upstream.person.amr = ["pwd", "mfa"]

    assert sign_in_through(Client())["Location"] == "/accounts/security/totp/add/", "untrusted: enrol ours"
    provider.trust_upstream_mfa = True
    provider.save()
    browser = Client()
    assert sign_in_through(browser)["Location"] == "/accounts/"
    assert browser.get("/accounts/security/").status_code == 200, "not held at enrolment"


def test_the_admin_site_takes_a_trusted_upstream_mfa_for_staff(provider, upstream, settings):
    settings.MFA_REQUIRED = "staff"
    sign_in_through(Client())
    User.objects.update(is_staff=True)
    upstream.person.amr = ["pwd", "mfa"]

    untrusted = Client()
    sign_in_through(untrusted)
    assert untrusted.get("/admin/").status_code == 302
    provider.trust_upstream_mfa = True
    provider.save()
    browser = Client()
    sign_in_through(browser)
    assert browser.get("/admin/").status_code == 200


def test_a_trusted_upstream_mfa_never_re_authenticates_here(trusted, upstream, totp_clock):
    """Adding or removing one of our factors asks for one of ours: the provider's second factor is no
    factor the account holds, and whoever controls the person's account there (or the provider's admin)
    must not change what guards the account here."""
    user = an_account_with_an_authenticator_app()
    upstream.person.amr = ["pwd", "mfa"]
    browser = Client()
    assert sign_in_through(browser)["Location"] == "/accounts/"

    add = browser.get("/accounts/security/totp/add/")
    assert add.status_code == 302 and add["Location"].startswith("/accounts/reauthenticate/")
    device = user.totpdevice_set.get()
    removed = browser.post(f"/accounts/security/totp/{device.pk}/remove/")
    assert removed["Location"].startswith("/accounts/reauthenticate/")
    assert user.totpdevice_set.exists()


def test_only_sign_in_only_factor_kinds_can_be_vouched_for(user):
    """accounts' own guard: a caller cannot vouch for a factor that re-authenticates (an authenticator
    app, a passkey) beside a first factor."""
    request = RequestFactory().get("/")
    for method in ("otp", "passkey", "recovery", "pwd", "made_up"):
        with pytest.raises(ValueError):
            begin_signin(request, user, "fed", None, vouched=(method,))
