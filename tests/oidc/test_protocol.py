"""The OpenID Connect provider as a relying party sees it: discovery, keys, the code flow and its
prompts (none, login, max_age, acr_values step-up, consent), claims by scope, refresh, client
credentials, revocation and introspection. Attacks and refusals are in test_attacks.py.

Every request goes through Django's test client against real PostgreSQL and Redis.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ValidationError
from django.test import Client as Browser

from oidc.assurance import ACR_1FA, ACR_MFA, ACR_PHR
from oidc.models import Client, Consent, TokenFamily
from tests.oidc.apis import grant, resource_server
from tests.oidc.relying_party import (
    ISSUER,
    REDIRECT_URI,
    RelyingParty,
    approve,
    backdate_signin,
    register,
    register_client,
    response_params,
    sign_in_with_password,
)
from tests.users import PASSWORD, add_totp, pass_mfa


def jwt_header(token: str) -> dict:
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


def code_from(rp: RelyingParty, response, request: dict) -> str:
    returned = rp.callback(response)
    assert returned["state"] == request["params"]["state"]
    assert "code" in returned, returned
    return returned["code"]


def redeem_claims(rp: RelyingParty, code: str, request: dict) -> dict:
    tokens = rp.redeem(code, request["verifier"])
    assert tokens.status_code == 200, tokens.content
    body = tokens.json()
    body["claims"] = rp.id_claims(body["id_token"], request["params"].get("nonce"))
    return body


def is_signin_page(response) -> bool:
    return response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# --- discovery and keys -------------------------------------------------------------------------


def test_discovery_document_describes_a_code_only_provider(client, settings):
    response = client.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    doc = response.json()
    assert doc["issuer"] == settings.SITE_URL == ISSUER
    assert doc["authorization_endpoint"] == f"{ISSUER}/oauth/authorize/"
    assert doc["token_endpoint"] == f"{ISSUER}/oauth/token/"
    assert doc["userinfo_endpoint"] == f"{ISSUER}/oauth/userinfo/"
    assert doc["jwks_uri"] == f"{ISSUER}/oauth/jwks/"
    assert doc["end_session_endpoint"] == f"{ISSUER}/oauth/logout/"
    assert doc["revocation_endpoint"] == f"{ISSUER}/oauth/revoke/"
    assert doc["introspection_endpoint"] == f"{ISSUER}/oauth/introspect/"
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_modes_supported"] == ["query"]
    grants = set(doc["grant_types_supported"])
    assert grants == {"authorization_code", "refresh_token", "client_credentials"}
    assert not grants & {"implicit", "password"}
    assert doc["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]  # RS256 first: OIDC Discovery requires it
    assert doc["subject_types_supported"] == ["public"]
    assert doc["backchannel_logout_supported"] is True
    assert doc["backchannel_logout_session_supported"] is True
    assert doc["acr_values_supported"] == [ACR_1FA, ACR_MFA, ACR_PHR]
    assert doc["authorization_response_iss_parameter_supported"] is True  # RFC 9207
    assert {"openid", "email", "profile"} <= set(doc["scopes_supported"])
    assert {"sub", "email", "email_verified", "name", "auth_time", "amr", "acr"} <= set(doc["claims_supported"])
    # Both spellings of the path answer (DOT's pattern allows the trailing slash).
    assert client.get("/.well-known/openid-configuration/").json() == doc


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_jwks_publishes_public_keys_with_kid_and_the_id_token_names_one(signed_in_client, algorithm):
    client, secret = register(f"{algorithm} app", algorithm=algorithm)
    rp = RelyingParty(client, secret)
    jwks = rp.http.get("/oauth/jwks/").json()
    assert {key["kty"] for key in jwks["keys"]} == {"RSA", "EC"}
    for key in jwks["keys"]:
        assert key["kid"] and key.get("use", "sig") == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "a private key part is published"
    body = rp.sign_in_and_redeem(signed_in_client)
    header = jwt_header(body["id_token"])
    assert header["alg"] == algorithm
    [named] = [key for key in jwks["keys"] if key["kid"] == header["kid"]]
    assert named["alg"] == algorithm and named["kty"] == {"ES256": "EC", "RS256": "RSA"}[algorithm]


# --- the authorization response -----------------------------------------------------------------


def test_authorization_response_carries_code_state_and_iss(rp, signed_in_client):
    request = rp.authorization()
    returned = rp.callback(approve(signed_in_client, request["url"]))
    assert returned["iss"] == ISSUER  # RFC 9207
    assert returned["state"] == request["params"]["state"]
    assert returned["code"]


def test_token_response_is_not_cached_and_id_token_is_for_this_client(rp, signed_in_client):
    request = rp.authorization()
    code = code_from(rp, approve(signed_in_client, request["url"]), request)
    response = rp.redeem(code, request["verifier"])
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]  # RFC 6749 §5.1
    body = response.json()
    assert body["token_type"] == "Bearer" and body["access_token"] and body["refresh_token"]
    claims = rp.id_claims(body["id_token"], request["params"]["nonce"])
    assert claims["aud"] == rp.client.client_id
    assert claims["iss"] == ISSUER
    assert claims["exp"] > time.time() > claims["iat"] - 5


def test_request_without_nonce_succeeds_for_the_code_flow(rp, signed_in_client):
    body = rp.sign_in_and_redeem(signed_in_client, nonce=None)
    assert "nonce" not in body["claims"]


def test_unknown_parameters_are_tolerated(rp, signed_in_client):
    body = rp.sign_in_and_redeem(
        signed_in_client, display="popup", ui_locales="de", claims_locales="fr", foo="bar", extra_thing="1"
    )
    assert body["claims"]["sub"]


def test_scopes_in_another_order_and_repeated_succeed(rp, signed_in_client):
    body = rp.sign_in_and_redeem(signed_in_client, scope="profile email openid email")
    assert set(body["scope"].split()) == {"openid", "email", "profile"}


def test_redirect_uri_with_its_own_query_is_kept_and_extended(signed_in_client):
    client, secret = register_client(
        "https://rp.example/callback?tenant=7", name="Query app", client_type=Client.CLIENT_CONFIDENTIAL
    )
    rp = RelyingParty(client, secret)
    request = rp.authorization(redirect_uri="https://rp.example/callback?tenant=7")
    response = approve(signed_in_client, request["url"])
    assert response.status_code == 302
    assert response["Location"].startswith("https://rp.example/callback?")
    returned = response_params(response)
    assert returned["tenant"] == "7" and returned["code"] and returned["state"] == request["params"]["state"]


def test_missing_redirect_uri_is_an_error_page_when_the_client_has_two(signed_in_client):
    """Conformance: oidcc-ensure-redirect-uri-in-authorization-request."""
    client, secret = register_client(
        f"{REDIRECT_URI} https://rp.example/second", name="Two URIs", client_type=Client.CLIENT_CONFIDENTIAL
    )
    rp = RelyingParty(client, secret)
    response = signed_in_client.get(rp.authorization(redirect_uri=None)["url"])
    assert response.status_code == 400
    assert "Location" not in response
    assert "oidc/error.html" in [t.name for t in response.templates]


def test_missing_redirect_uri_is_refused_even_with_one_registered(rp, signed_in_client):
    response = signed_in_client.get(rp.authorization(redirect_uri=None)["url"])
    assert response.status_code == 400
    assert "Location" not in response


@pytest.mark.parametrize(
    "response_type", ["token", "id_token", "code id_token", "code token", "id_token token", "none"]
)
def test_other_response_types_are_refused(rp, signed_in_client, response_type):
    request = rp.authorization(response_type=response_type)
    response = signed_in_client.get(request["url"])
    returned = response_params(response)
    assert "code" not in returned and "access_token" not in returned and "id_token" not in returned
    if response.status_code == 302:
        assert response["Location"].startswith(REDIRECT_URI)
        assert returned["error"] in {"unsupported_response_type", "unauthorized_client", "invalid_request"}
    else:
        assert 400 <= response.status_code < 500
    assert not TokenFamily.objects.exists()


def test_code_challenge_is_required(rp, signed_in_client):
    response = approve(signed_in_client, rp.authorization(code_challenge=None, code_challenge_method=None)["url"])
    returned = rp.callback(response)
    assert returned["error"] == "invalid_request" and "code" not in returned


def test_plain_code_challenge_method_is_refused(rp, signed_in_client):
    verifier = "v" * 50
    request = rp.authorization(code_challenge=verifier, code_challenge_method="plain")
    returned = rp.callback(approve(signed_in_client, request["url"]))
    assert returned["error"] == "invalid_request" and "code" not in returned


def test_authorization_request_by_post_is_supported(rp, signed_in_client):
    """OpenID Connect Core 3.1.2.1: the request may come as a form POST from the app's site (so with no
    CSRF token); it continues as the same request by GET."""
    browser = Browser(enforce_csrf_checks=True, raise_request_exception=False)
    browser.cookies = signed_in_client.cookies  # the signed-in person; the form comes from the app's site
    request = rp.authorization()
    response = browser.post("/oauth/authorize/", request["params"])
    assert response.status_code == 303
    location = urlsplit(response["Location"])
    assert location.path == "/oauth/authorize/"
    assert {key: values[0] for key, values in parse_qs(location.query).items()} == request["params"]
    response = browser.get(response["Location"])
    assert response.status_code == 200 and b'name="decision"' in response.content  # the consent page
    assert "code" in rp.callback(signed_in_client.post(response.wsgi_request.get_full_path(), {"decision": "allow"}))


def test_consent_answer_needs_the_csrf_token(rp, signed_in_client):
    browser = Browser(enforce_csrf_checks=True, raise_request_exception=False)
    browser.cookies = signed_in_client.cookies
    request = rp.authorization()
    assert signed_in_client.get(request["url"]).status_code == 200  # the consent page
    refused = browser.post(request["url"], {"decision": "allow"})
    assert refused.status_code == 403


# --- prompt=none ---------------------------------------------------------------------------------


def test_prompt_none_when_not_signed_in_answers_login_required_without_a_page(rp, client):
    request = rp.authorization(prompt="none")
    response = client.get(request["url"])
    returned = rp.callback(response)
    assert returned == {"error": "login_required", "state": request["params"]["state"], "iss": ISSUER}


def test_prompt_none_without_consent_answers_consent_required(rp, signed_in_client):
    request = rp.authorization(prompt="none")
    returned = rp.callback(signed_in_client.get(request["url"]))
    assert returned["error"] == "consent_required"
    assert returned["state"] == request["params"]["state"]
    assert "code" not in returned


def test_prompt_none_with_consent_issues_a_code_silently(rp, signed_in_client, user):
    first = rp.sign_in_and_redeem(signed_in_client)
    request = rp.authorization(prompt="none")
    body = redeem_claims(rp, code_from(rp, signed_in_client.get(request["url"]), request), request)
    assert body["claims"]["sub"] == first["claims"]["sub"] == str(user.subject)


def test_prompt_none_with_id_token_hint_of_the_signed_in_person(rp, signed_in_client):
    """Conformance: oidcc-id-token-hint."""
    first = rp.sign_in_and_redeem(signed_in_client)
    request = rp.authorization(prompt="none", id_token_hint=first["id_token"])
    body = redeem_claims(rp, code_from(rp, signed_in_client.get(request["url"]), request), request)
    assert body["claims"]["sub"] == first["claims"]["sub"]


def test_prompt_none_with_id_token_hint_of_someone_else_is_login_required(rp, signed_in_client, make_user):
    ada = rp.sign_in_and_redeem(signed_in_client)
    grace = make_user("grace@example.com")
    grace_browser = Browser(raise_request_exception=False)
    sign_in_with_password(grace_browser, grace.email)
    rp.sign_in_and_redeem(grace_browser)  # Grace has consented too
    request = rp.authorization(prompt="none", id_token_hint=ada["id_token"])
    returned = rp.callback(grace_browser.get(request["url"]))
    assert returned.get("error") == "login_required" and "code" not in returned


def test_prompt_none_combined_with_login_is_invalid(rp, signed_in_client):
    returned = rp.callback(signed_in_client.get(rp.authorization(prompt="none login")["url"]))
    assert returned["error"] == "invalid_request" and "code" not in returned


# --- prompt=login and max_age ---------------------------------------------------------------------


def test_prompt_login_forces_the_sign_in_page_and_a_later_auth_time(rp, signed_in_client, user):
    first_signin = backdate_signin(signed_in_client, 30)
    request = rp.authorization(prompt="login")

    response = signed_in_client.get(request["url"])
    assert is_signin_page(response)
    assert parse_qs(urlsplit(response["Location"]).query)["prompt"] == ["login"]
    page = signed_in_client.get(response["Location"])
    assert page.status_code == 200, "the sign-in page is shown even though the person is signed in"
    assert b'name="password"' in page.content and b'name="prompt" value="login"' in page.content
    # Coming back without signing in again gets nothing.
    assert is_signin_page(signed_in_client.get(request["url"]))

    back = sign_in_with_password(signed_in_client, user.email, request["url"], prompt="login")
    assert back.status_code == 302 and back["Location"] == request["url"]
    body = redeem_claims(rp, code_from(rp, approve(signed_in_client, back["Location"]), request), request)
    assert body["claims"]["auth_time"] > first_signin
    assert body["claims"]["auth_time"] >= int(time.time()) - 5


@pytest.mark.parametrize("extra", [{"prompt": "login"}, {"max_age": "0"}])
def test_fresh_sign_in_requests_need_one_sign_in_when_signed_out(client, user, extra):
    first_party, secret = register("First party", skip_authorization=True)
    rp = RelyingParty(first_party, secret)
    request = rp.authorization(**extra)
    assert is_signin_page(client.get(request["url"]))
    back = sign_in_with_password(client, user.email, request["url"])
    assert back["Location"] == request["url"]
    response = client.get(back["Location"])
    assert not is_signin_page(response), "asked to sign in a second time"
    code_from(rp, response, request)


def test_max_age_forces_a_fresh_sign_in_when_the_sign_in_is_older(rp, signed_in_client, user):
    rp.sign_in_and_redeem(signed_in_client)  # consent given
    first_signin = backdate_signin(signed_in_client, 5)

    # A generous max_age is met by the old sign-in...
    request = rp.authorization(max_age="3600")
    body = redeem_claims(rp, code_from(rp, signed_in_client.get(request["url"]), request), request)
    assert body["claims"]["auth_time"] == first_signin

    # ...max_age=1 is not: sign in again, then the code comes with the new auth_time.
    request = rp.authorization(max_age="1")
    response = signed_in_client.get(request["url"])
    assert is_signin_page(response)
    back = sign_in_with_password(signed_in_client, user.email, request["url"], prompt="login")
    body = redeem_claims(rp, code_from(rp, signed_in_client.get(back["Location"]), request), request)
    assert body["claims"]["auth_time"] > first_signin
    assert time.time() - body["claims"]["auth_time"] <= 2


def test_max_age_with_prompt_none_and_a_stale_sign_in_is_login_required(rp, signed_in_client):
    rp.sign_in_and_redeem(signed_in_client)
    backdate_signin(signed_in_client, 5)
    returned = rp.callback(signed_in_client.get(rp.authorization(max_age="1", prompt="none")["url"]))
    assert returned["error"] == "login_required" and "code" not in returned


@pytest.mark.parametrize("max_age", ["soon", "-1", "1.5"])
def test_max_age_that_is_not_a_number_is_invalid_request(rp, signed_in_client, max_age):
    request = rp.authorization(max_age=max_age)
    returned = rp.callback(signed_in_client.get(request["url"]))
    assert returned["error"] == "invalid_request" and returned["state"] == request["params"]["state"]


def test_login_hint_prefills_the_sign_in_page(rp, client):
    response = client.get(rp.authorization(login_hint="grace@example.com")["url"])
    assert is_signin_page(response)
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b'value="grace@example.com"' in page.content


# --- acr_values: step-up --------------------------------------------------------------------------


def test_acr_mfa_steps_up_a_password_sign_in_with_the_authenticator_app(rp, signed_in_client, user):
    add_totp(user)  # enrolled elsewhere: this session proved only the password
    request = rp.authorization(acr_values=ACR_MFA)
    response = signed_in_client.get(request["url"])
    assert response.status_code == 302 and response["Location"] == "/accounts/mfa/"
    back = pass_mfa(signed_in_client, user)
    assert back.status_code == 302 and back["Location"] == request["url"]
    body = redeem_claims(rp, code_from(rp, approve(signed_in_client, back["Location"]), request), request)
    assert body["claims"]["acr"] == ACR_MFA
    assert {"pwd", "otp", "mfa"} <= set(body["claims"]["amr"])
    # The refreshed ID token keeps how the person authenticated.
    refreshed = rp.refresh(body["refresh_token"]).json()
    claims = rp.id_claims(refreshed["id_token"])
    assert claims["acr"] == ACR_MFA and claims["amr"] == body["claims"]["amr"]
    assert claims["auth_time"] == body["claims"]["auth_time"] and claims["sub"] == body["claims"]["sub"]


def test_acr_values_any_listed_level_will_do(rp, signed_in_client, user):
    add_totp(user)
    body = rp.sign_in_and_redeem(signed_in_client, acr_values=f"{ACR_MFA} {ACR_1FA}")
    assert body["claims"]["acr"] == ACR_1FA and body["claims"]["amr"] == ["pwd"]


def test_unknown_acr_values_are_ignored(rp, signed_in_client):
    body = rp.sign_in_and_redeem(signed_in_client, acr_values="urn:example:gold")
    assert body["claims"]["acr"] == ACR_1FA


@pytest.mark.parametrize("acr", [ACR_MFA, ACR_PHR])
def test_acr_that_the_person_cannot_reach_is_insufficient_user_authentication(rp, signed_in_client, user, acr):
    if acr == ACR_PHR:
        add_totp(user)  # an authenticator app, but no passkey
    request = rp.authorization(acr_values=acr)
    returned = rp.callback(signed_in_client.get(request["url"]))
    assert returned["error"] == "insufficient_user_authentication"
    assert returned["state"] == request["params"]["state"] and returned["iss"] == ISSUER
    assert "code" not in returned


def test_acr_step_up_abandoned_is_insufficient_user_authentication(rp, signed_in_client, user):
    add_totp(user)
    request = rp.authorization(acr_values=ACR_MFA)
    assert signed_in_client.get(request["url"])["Location"] == "/accounts/mfa/"
    # The person comes back without proving the factor: the app hears, no loop.
    returned = rp.callback(signed_in_client.get(request["url"]))
    assert returned["error"] == "insufficient_user_authentication"


def test_acr_step_up_under_prompt_none_is_interaction_required(rp, signed_in_client, user):
    add_totp(user)
    rp.sign_in_and_redeem(signed_in_client)
    returned = rp.callback(signed_in_client.get(rp.authorization(acr_values=ACR_MFA, prompt="none")["url"]))
    assert returned["error"] == "interaction_required" and "code" not in returned


def test_step_up_counts_only_for_the_step_up_timeout(rp, signed_in_client, user, settings):
    add_totp(user)
    backdate_signin(signed_in_client, 60)  # signed in a minute ago, with the password
    request = rp.authorization(acr_values=ACR_MFA)
    assert signed_in_client.get(request["url"])["Location"] == "/accounts/mfa/"
    back = pass_mfa(signed_in_client, user)
    body = redeem_claims(rp, code_from(rp, approve(signed_in_client, back["Location"]), request), request)
    assert body["claims"]["acr"] == ACR_MFA

    # Within the window, another app request needing MFA is met without asking again.
    request = rp.authorization(acr_values=ACR_MFA)
    code_from(rp, signed_in_client.get(request["url"]), request)

    settings.OIDC_STEP_UP_TIMEOUT = 0  # the window has passed
    request = rp.authorization(acr_values=ACR_MFA)
    assert signed_in_client.get(request["url"])["Location"] == "/accounts/mfa/"
    request = rp.authorization()
    body = redeem_claims(rp, code_from(rp, signed_in_client.get(request["url"]), request), request)
    assert body["claims"]["amr"] == ["pwd"] and body["claims"]["acr"] == ACR_1FA


def test_step_up_in_the_same_second_as_the_sign_in_still_expires(rp, client, user, settings, monkeypatch):
    frozen = int(time.time()) + 0.5
    monkeypatch.setattr(time, "time", lambda: frozen)  # everything below happens within one second
    assert sign_in_with_password(client, user.email).status_code == 302
    add_totp(user)  # enrolled elsewhere, after this password-only sign-in
    request = rp.authorization(acr_values=ACR_MFA)
    assert client.get(request["url"])["Location"] == "/accounts/mfa/"
    back = pass_mfa(client, user)
    code_from(rp, approve(client, back["Location"]), request)
    monkeypatch.undo()

    settings.OIDC_STEP_UP_TIMEOUT = 0
    response = client.get(rp.authorization(acr_values=ACR_MFA)["url"])
    assert response.get("Location") == "/accounts/mfa/", "the step-up still counts"


def test_re_authenticating_does_not_lower_the_session_assurance(rp, signed_in_client, settings):
    backdate_signin(signed_in_client, 60)
    response = signed_in_client.post("/accounts/reauthenticate/", {"password": PASSWORD, "next": "/accounts/security/"})
    assert response.status_code == 302 and response["Location"] == "/accounts/security/"
    settings.OIDC_STEP_UP_TIMEOUT = 0  # long after the re-authentication
    body = rp.sign_in_and_redeem(signed_in_client)
    assert body["claims"].get("amr") == ["pwd"]
    assert body["claims"].get("acr") == ACR_1FA


# --- consent -------------------------------------------------------------------------------------


def test_consent_is_asked_once_then_remembered(rp, signed_in_client, user):
    request = rp.authorization()
    page = signed_in_client.get(request["url"])
    assert page.status_code == 200 and "oidc/consent.html" in [t.name for t in page.templates]
    assert rp.client.name.encode() in page.content
    assert not Consent.objects.filter(user=user, client=rp.client).exists()
    code_from(rp, signed_in_client.post(request["url"], {"decision": "allow"}), request)
    consent = Consent.objects.get(user=user, client=rp.client)
    assert set(consent.scopes.split()) == {"openid", "email", "profile", "offline_access"}

    request = rp.authorization()
    code_from(rp, signed_in_client.get(request["url"]), request)  # no page this time

    # Fewer scopes are covered; prompt=consent asks again anyway.
    request = rp.authorization(scope="openid email")
    code_from(rp, signed_in_client.get(request["url"]), request)
    assert signed_in_client.get(rp.authorization(prompt="consent")["url"]).status_code == 200


def test_consent_is_asked_again_for_more_scopes(signed_in_client, user):
    client, secret = register("Growing app")
    rp = RelyingParty(client, secret)
    rp.sign_in_and_redeem(signed_in_client, scope="openid")
    page = signed_in_client.get(rp.authorization(scope="openid email")["url"])
    assert page.status_code == 200 and b'name="decision"' in page.content
    body = rp.sign_in_and_redeem(signed_in_client, scope="openid email")
    assert body["claims"]["email"] == user.email
    assert set(Consent.objects.get(user=user, client=client).scopes.split()) == {"openid", "email"}


def test_denied_consent_is_access_denied(rp, signed_in_client, user):
    request = rp.authorization()
    assert signed_in_client.get(request["url"]).status_code == 200
    returned = rp.callback(signed_in_client.post(request["url"], {"decision": "deny"}))
    assert returned == {
        "error": "access_denied",
        "error_description": "The person declined.",
        "state": request["params"]["state"],
        "iss": ISSUER,
    }
    assert not Consent.objects.filter(user=user).exists()
    assert signed_in_client.get(rp.authorization()["url"]).status_code == 200, "asked again next time"


def test_first_party_apps_skip_consent(signed_in_client, user):
    client, secret = register("Our own app", skip_authorization=True)
    rp = RelyingParty(client, secret)
    request = rp.authorization()
    code_from(rp, signed_in_client.get(request["url"]), request)
    assert not Consent.objects.filter(user=user).exists()


# --- scopes and claims ---------------------------------------------------------------------------


def test_scopes_outside_the_clients_allowed_scopes_are_invalid_scope(signed_in_client):
    client, secret = register("Email-only app", allowed_scopes="openid email")
    rp = RelyingParty(client, secret)
    request = rp.authorization(scope="openid profile")
    returned = rp.callback(signed_in_client.get(request["url"]))
    assert returned["error"] == "invalid_scope" and returned["state"] == request["params"]["state"]
    assert "code" not in returned
    body = rp.sign_in_and_redeem(signed_in_client, scope="openid email")
    assert body["scope"] == "openid email"


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("openid", set()),
        ("openid email", {"email", "email_verified"}),
        ("openid profile", {"name"}),
        ("openid email profile", {"email", "email_verified", "name"}),
    ],
)
def test_claims_follow_the_scopes_in_id_token_and_userinfo(rp, signed_in_client, user, scope, expected):
    user.display_name = "Ada Lovelace"
    user.save(update_fields=["display_name"])
    values = {"sub": str(user.subject), "email": user.email, "email_verified": True, "name": "Ada Lovelace"}
    body = rp.sign_in_and_redeem(signed_in_client, scope=scope)
    id_claims = body["claims"]
    by_get = rp.userinfo(body["access_token"])
    by_post = rp.http.post("/oauth/userinfo/", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert by_get.status_code == by_post.status_code == 200
    for source in (by_get.json(), by_post.json(), id_claims):
        present = {claim for claim in ("email", "email_verified", "name") if claim in source}
        assert present == expected, source
        assert source["sub"] == values["sub"]
        for claim in expected:
            assert source[claim] == values[claim]
    assert by_get.json() == by_post.json()


def test_name_is_left_out_when_the_person_has_none(rp, signed_in_client, user):
    assert user.display_name == ""
    body = rp.sign_in_and_redeem(signed_in_client)
    assert "name" not in body["claims"] and "name" not in rp.userinfo(body["access_token"]).json()


def test_sub_is_opaque_and_stable(rp, signed_in_client, user, make_user):
    first = rp.sign_in_and_redeem(signed_in_client)["claims"]["sub"]
    assert first == str(user.subject)
    assert str(uuid.UUID(first)) == first
    assert first not in {user.email, str(user.pk)} and user.email not in first

    # Another browser, another sign-in, another app: the same person, the same sub.
    other_browser = Browser(raise_request_exception=False)
    sign_in_with_password(other_browser, user.email)
    assert rp.sign_in_and_redeem(other_browser)["claims"]["sub"] == first
    other_app, secret = register("Another app")
    assert RelyingParty(other_app, secret).sign_in_and_redeem(other_browser)["claims"]["sub"] == first

    grace = make_user("grace@example.com")
    grace_browser = Browser(raise_request_exception=False)
    sign_in_with_password(grace_browser, grace.email)
    assert rp.sign_in_and_redeem(grace_browser)["claims"]["sub"] == str(grace.subject) != first


def test_public_client_with_pkce_completes_the_flow(public_rp, signed_in_client, user):
    body = public_rp.sign_in_and_redeem(signed_in_client)
    assert body["claims"]["sub"] == str(user.subject)
    assert public_rp.refresh(body["refresh_token"]).status_code == 200


# --- refresh -------------------------------------------------------------------------------------


def test_refresh_rotates_and_keeps_the_authentication_context(rp, signed_in_client):
    body = rp.sign_in_and_redeem(signed_in_client)
    refreshed = rp.refresh(body["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content
    new = refreshed.json()
    assert new["refresh_token"] != body["refresh_token"] and new["access_token"] != body["access_token"]
    claims = rp.id_claims(new["id_token"])
    for claim in ("sub", "auth_time", "amr", "acr", "sid", "aud", "iss"):
        assert claims[claim] == body["claims"][claim], claim
    assert rp.userinfo(new["access_token"]).status_code == 200
    assert rp.refresh(new["refresh_token"]).status_code == 200


# --- client credentials and client authentication -----------------------------------------------


def test_client_credentials_grant_for_a_confidential_service(db):
    client, secret = register("Service", grant=Client.GRANT_CLIENT_CREDENTIALS)
    service = RelyingParty(client, secret)
    response = service.token({"grant_type": "client_credentials"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["access_token"] and body["token_type"] == "Bearer"
    assert "refresh_token" not in body and "id_token" not in body
    service.secret = secret + "-wrong"
    assert service.token({"grant_type": "client_credentials"}).status_code == 401


def test_public_clients_cannot_use_client_credentials(public_rp, rp):
    with pytest.raises(ValidationError) as refused:
        register("Public service", client_type=Client.CLIENT_PUBLIC, grant=Client.GRANT_CLIENT_CREDENTIALS)
    assert "client_type" in refused.value.message_dict
    for app in (public_rp, rp):  # neither may use a grant it was not registered for
        response = app.token({"grant_type": "client_credentials"})
        assert response.status_code in (400, 401)
        assert "access_token" not in response.json()


def test_tokens_of_machine_clients_are_not_about_a_person(db):
    """A client credentials token acts for the client itself: no person's scopes, no userinfo."""
    client, secret = register("Service", grant=Client.GRANT_CLIENT_CREDENTIALS)
    service = RelyingParty(client, secret)
    service.http = Browser(raise_request_exception=False)  # a crash must show as a 500, not raise
    refused = service.token({"grant_type": "client_credentials", "scope": "openid email"})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"
    token = service.token({"grant_type": "client_credentials"}).json()["access_token"]
    assert service.userinfo(token).status_code in (401, 403)


def test_client_secrets_are_stored_hashed_and_checked(rp, signed_in_client):
    stored = Client.objects.values_list("client_secret", flat=True).get(pk=rp.client.pk)
    assert stored.startswith("client-secret-hmac$")
    assert rp.secret not in stored
    request = rp.authorization()
    code = code_from(rp, approve(signed_in_client, request["url"]), request)
    right_secret = rp.secret
    rp.secret = right_secret[:-1] + ("x" if right_secret[-1] != "x" else "y")
    refused = rp.redeem(code, request["verifier"])
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    # client_secret_post with the right secret works, for the same code.
    rp.secret = right_secret
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": request["verifier"],
        "client_id": rp.client.client_id,
        "client_secret": right_secret,
    }
    assert rp.http.post("/oauth/token/", data).status_code == 200


# --- revocation and introspection ----------------------------------------------------------------


def test_revoking_an_access_token_ends_it(rp, signed_in_client):
    body = rp.sign_in_and_redeem(signed_in_client)
    assert rp.userinfo(body["access_token"]).status_code == 200
    response = rp.http.post(
        "/oauth/revoke/", {"token": body["access_token"], "token_type_hint": "access_token"}, **rp.auth()
    )
    assert response.status_code == 200
    assert rp.userinfo(body["access_token"]).status_code == 401


def test_revoking_a_refresh_token_ends_it(public_rp, signed_in_client):
    body = public_rp.sign_in_and_redeem(signed_in_client)
    response = public_rp.http.post(
        "/oauth/revoke/", {"token": body["refresh_token"], "client_id": public_rp.client.client_id}
    )
    assert response.status_code == 200
    assert public_rp.refresh(body["refresh_token"]).status_code == 400


def test_introspection_for_a_resource_server(rp, signed_in_client, user):
    """Issue 13 §6: only a confidential client registered as a resource server introspects, here one
    of the API whose scope `mail.read` is (before, any confidential client could; test_review_findings.py
    has the refusals, and test_introspection_scopes.py why OpenID Connect's own scopes are served by none)."""
    grant(rp.client, "mail.read")
    body = rp.sign_in_and_redeem(signed_in_client, scope="openid email profile mail.read")
    api = resource_server("API", served_scopes="mail.read")

    def introspect(token):
        response = api.http.post("/oauth/introspect/", {"token": token}, **api.auth())
        assert response.status_code == 200
        return response.json()

    active = introspect(body["access_token"])
    assert active["active"] is True
    assert active["client_id"] == rp.client.client_id
    assert set(active["scope"].split()) == {"openid", "email", "profile", "mail.read"}
    assert active["exp"] > time.time()
    assert active["sub"] == str(user.subject) and "username" not in active  # opaque, never the email
    assert user.email not in json.dumps(active)
    # The token goes in the body only, never in a URL.
    in_url = api.http.get(f"/oauth/introspect/?token={body['access_token']}", **api.auth())
    assert in_url.status_code == 405
    assert introspect("not-a-token") == {"active": False}
    rp.http.post("/oauth/revoke/", {"token": body["access_token"]}, **rp.auth())
    assert introspect(body["access_token"]) == {"active": False}
    # Without the client's credentials there is no answer.
    assert api.http.post("/oauth/introspect/", {"token": body["access_token"]}).status_code in (401, 403)
