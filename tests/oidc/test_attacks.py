"""What an attacker tries against the OpenID Connect provider, and what must refuse it: redirect URI
manipulation (RFC 9700 §4.1), PKCE downgrade and code injection (§4.5, §4.8), code replay, refresh
token replay (§4.14), stolen and leaked tokens, cross-site request forgery on consent, and the
account events (deactivation, password reset, "this wasn't me", sign-out) that must end every token.

Every request goes through Django's test client against real PostgreSQL and Redis.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client as Browser
from django.test import RequestFactory
from django.utils import timezone

from oidc.app_settings import app_settings as oidc_settings
from oidc.models import AuthorizationCode, Client, Consent, TokenFamily
from tests.oidc.relying_party import (
    ISSUER,
    REDIRECT_URI,
    RelyingParty,
    approve,
    register,
    register_client,
    response_params,
    sign_in_with_password,
)
from tests.users import PASSWORD


def authorize(rp: RelyingParty, browser: Browser, **overrides) -> tuple[str, dict]:
    """A code for `rp`, through consent; returns the code and the request it answered."""
    request = rp.authorization(**overrides)
    returned = rp.callback(approve(browser, request["url"]))
    assert returned["state"] == request["params"]["state"]
    return returned["code"], request


def is_error_page(response) -> bool:
    return (
        400 <= response.status_code < 500
        and "Location" not in response
        and "oidc/error.html" in [t.name for t in response.templates]
    )


# --- redirect URIs: exact matching, no redirect to an unregistered URI --------------------------

EXTENDED_REDIRECT_URIS = [
    "https://rp.example/callback?next=https://evil.example/",  # extra query
    "https://rp.example/callback#fragment",  # fragment
    "https://attacker@rp.example/callback",  # userinfo
    "https://rp.example@evil.example/callback",  # userinfo, the other way round
    "https://rp.example.evil.com/callback",  # suffix domain
    "https://evil.example/callback",  # another host
    "https://rp.example/callback/evil",  # longer path
    "https://rp.example/other",  # another path
    "https://rp.example/x/../callback",  # dot segments
    "https://rp.example/Callback",  # path case
    "https://rp.example/callback/",  # trailing slash
    "https://rp.example:8443/callback",  # another port
    "http://rp.example/callback",  # downgraded scheme
    "https://rp.example/callback%3Fevil",  # encoded query
    "//evil.example/callback",  # scheme-relative
    "javascript:alert(1)//rp.example/callback",
]


@pytest.mark.parametrize("prompt", [None, "none"])
@pytest.mark.parametrize("redirect_uri", EXTENDED_REDIRECT_URIS)
def test_unregistered_redirect_uri_is_an_error_page_never_a_redirect(rp, signed_in_client, redirect_uri, prompt):
    response = signed_in_client.get(rp.authorization(redirect_uri=redirect_uri, prompt=prompt)["url"])
    assert is_error_page(response), (response.status_code, response.get("Location"))
    assert not AuthorizationCode.objects.exists()


def test_unregistered_redirect_uri_is_refused_before_sign_in(rp, client):
    response = client.get(rp.authorization(redirect_uri="https://evil.example/callback", prompt="none")["url"])
    assert is_error_page(response)
    response = client.get(rp.authorization(redirect_uri="https://evil.example/callback")["url"])
    assert is_error_page(response), "no detour to the sign-in page for a request that can never succeed"


@pytest.mark.parametrize("prompt", [None, "none"])
@pytest.mark.parametrize("signed_in", [False, True])
def test_unknown_client_id_is_an_error_page_never_a_redirect(rp, client, signed_in_client, prompt, signed_in):
    browser = signed_in_client if signed_in else client
    response = browser.get(rp.authorization(client_id="no-such-client", prompt=prompt)["url"])
    assert is_error_page(response)
    response = browser.get(rp.authorization(client_id=None, prompt=prompt)["url"])
    assert is_error_page(response)


def test_unsigned_request_object_cannot_move_the_redirect(rp, signed_in_client):
    # {"alg":"none"}.{"redirect_uri":"https://evil.example/","client_id":...}: not supported, never obeyed.
    request_object = "eyJhbGciOiJub25lIn0.eyJyZWRpcmVjdF91cmkiOiJodHRwczovL2V2aWwuZXhhbXBsZS8iLCJzY29wZSI6Im9wZW5pZCJ9."
    response = approve(signed_in_client, rp.authorization(request=request_object)["url"])
    if response.status_code == 302:
        assert response["Location"].startswith(REDIRECT_URI)
    else:
        assert is_error_page(response)


@pytest.mark.parametrize(
    "uri",
    [
        "http://rp.example/callback",
        "http://192.168.1.10/callback",
        "http://10.0.0.1/callback",
        "http://localhost.evil.example/callback",
        "http://127.0.0.1.nip.io/callback",
        "https://rp.example/callback#fragment",
        "https://user:password@rp.example/callback",
        "https://*.rp.example/callback",
        "javascript:alert(1)",
        "ftp://rp.example/callback",
        "/callback",
    ],
)
def test_unsafe_redirect_uris_cannot_be_registered(db, uri):
    with pytest.raises(ValidationError) as refused:
        register_client(uri)
    assert "redirect_uris" in refused.value.message_dict
    assert not Client.objects.exists()


@pytest.mark.parametrize(
    "uri",
    ["http://127.0.0.1/callback", "http://127.0.0.1:8123/callback", "http://[::1]/callback", "https://rp.example/cb"],
)
def test_https_and_loopback_http_redirect_uris_can_be_registered(db, uri):
    client, _ = register_client(uri)
    assert client.redirect_uris == uri


@pytest.mark.parametrize(
    ("registered", "used"),
    [
        ("http://127.0.0.1/callback", "http://127.0.0.1:51234/callback"),
        ("http://127.0.0.1:8123/callback", "http://127.0.0.1:51234/callback"),
        ("http://[::1]/callback", "http://[::1]:60001/callback"),
    ],
)
def test_loopback_redirects_may_use_any_port(signed_in_client, user, registered, used):
    """RFC 8252 §7.3: a native app listens on whatever port it was given."""
    client, _ = register_client(registered)
    app = RelyingParty(client, None)
    request = app.authorization(redirect_uri=used)
    response = approve(signed_in_client, request["url"])
    assert response.status_code == 302 and response["Location"].startswith(used + "?")
    returned = response_params(response)
    assert returned["state"] == request["params"]["state"]
    tokens = app.token(
        {
            "grant_type": "authorization_code",
            "code": returned["code"],
            "redirect_uri": used,
            "code_verifier": request["verifier"],
        }
    )
    assert tokens.status_code == 200, tokens.content
    assert app.id_claims(tokens.json()["id_token"])["sub"] == str(user.subject)


@pytest.mark.parametrize(
    "used",
    [
        "http://127.0.0.1:51234/other",
        "http://localhost:51234/callback",
        "http://127.0.0.2:51234/callback",
        "https://127.0.0.1:51234/callback",
        "http://127.0.0.1:51234/callback?x=1",
    ],
)
def test_loopback_port_freedom_is_only_the_port(signed_in_client, used):
    client, _ = register_client("http://127.0.0.1/callback")
    response = signed_in_client.get(RelyingParty(client, None).authorization(redirect_uri=used)["url"])
    assert is_error_page(response)


# --- the token endpoint: PKCE, codes, redirect_uri, client authentication -----------------------


def test_wrong_code_verifier_is_refused_and_the_right_one_still_works(rp, signed_in_client):
    code, request = authorize(rp, signed_in_client)
    other_verifier = rp.authorization()["verifier"]  # an attacker's own PKCE pair (code injection)
    refused = rp.redeem(code, other_verifier)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert rp.redeem(code, request["verifier"]).status_code == 200


def test_missing_code_verifier_is_refused(rp, signed_in_client):
    code, _ = authorize(rp, signed_in_client)
    refused = rp.redeem(code, None)
    assert refused.status_code == 400 and refused.json()["error"] in {"invalid_request", "invalid_grant"}
    assert "access_token" not in refused.json()


def test_code_verifier_without_a_challenge_is_refused(rp, signed_in_client):
    """RFC 9700 §2.1.1: a code_verifier for a code issued without code_challenge (PKCE downgrade)."""
    code, request = authorize(rp, signed_in_client)
    assert AuthorizationCode.objects.filter(code=code).update(code_challenge="", code_challenge_method="") == 1
    refused = rp.redeem(code, request["verifier"])
    assert refused.status_code == 400
    assert "access_token" not in refused.json()


def test_plain_pkce_issues_no_code(rp, signed_in_client):
    request = rp.authorization(code_challenge="p" * 60, code_challenge_method="plain")
    returned = response_params(approve(signed_in_client, request["url"]))
    assert "code" not in returned and returned.get("error") == "invalid_request"
    assert not AuthorizationCode.objects.exists()


def test_code_reuse_is_refused_and_revokes_what_the_code_bought(rp, signed_in_client):
    """Conformance: oidcc-codereuse; RFC 6749 §4.1.2."""
    code, request = authorize(rp, signed_in_client)
    first = rp.redeem(code, request["verifier"])
    assert first.status_code == 200
    tokens = first.json()
    assert rp.userinfo(tokens["access_token"]).status_code == 200

    second = rp.redeem(code, request["verifier"])
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    assert "access_token" not in second.json()
    assert rp.userinfo(tokens["access_token"]).status_code == 401
    assert rp.refresh(tokens["refresh_token"]).status_code == 400
    assert TokenFamily.objects.get(client=rp.client).revoked_at is not None


def test_code_reuse_after_a_refresh_revokes_the_rotated_tokens_too(rp, signed_in_client):
    code, request = authorize(rp, signed_in_client)
    tokens = rp.redeem(code, request["verifier"]).json()
    rotated = rp.refresh(tokens["refresh_token"]).json()
    assert rp.redeem(code, request["verifier"]).status_code == 400
    assert rp.userinfo(rotated["access_token"]).status_code == 401
    assert rp.refresh(rotated["refresh_token"]).status_code == 400


def test_code_of_another_client_is_refused(rp, signed_in_client):
    code, request = authorize(rp, signed_in_client)
    other, secret = register("Other app")
    thief = RelyingParty(other, secret)
    refused = thief.redeem(code, request["verifier"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert "access_token" not in refused.json()


def test_expired_code_is_refused(rp, signed_in_client, settings):
    assert settings.OAUTH2_PROVIDER["AUTHORIZATION_CODE_EXPIRE_SECONDS"] == 60
    code, request = authorize(rp, signed_in_client)
    grant = AuthorizationCode.objects.get(code=code)
    assert timezone.now() + timedelta(seconds=55) < grant.expires <= timezone.now() + timedelta(seconds=60)
    AuthorizationCode.objects.filter(pk=grant.pk).update(expires=timezone.now() - timedelta(seconds=1))
    refused = rp.redeem(code, request["verifier"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_redirect_uri_at_the_token_endpoint_must_match(rp, signed_in_client):
    code, request = authorize(rp, signed_in_client)
    refused = rp.redeem(code, request["verifier"], redirect_uri="https://rp.example/other")
    assert refused.status_code == 400 and refused.json()["error"] in {"invalid_grant", "invalid_request"}
    assert rp.redeem(code, request["verifier"]).status_code == 200


def test_redirect_uri_is_needed_at_the_token_endpoint_when_two_are_registered(signed_in_client):
    client, secret = register_client(
        f"{REDIRECT_URI} https://rp.example/second", name="Two URIs", client_type=Client.CLIENT_CONFIDENTIAL
    )
    rp = RelyingParty(client, secret)
    code, request = authorize(rp, signed_in_client)
    refused = rp.token({"grant_type": "authorization_code", "code": code, "code_verifier": request["verifier"]})
    assert refused.status_code in (400, 401) and "access_token" not in refused.json()


def test_confidential_client_must_authenticate(rp, signed_in_client):
    code, request = authorize(rp, signed_in_client)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": request["verifier"],
        "client_id": rp.client.client_id,
    }
    refused = rp.http.post("/oauth/token/", data)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    refused = rp.http.post("/oauth/token/", {**data, "client_secret": ""})
    assert refused.status_code == 401
    assert rp.redeem(code, request["verifier"]).status_code == 200


def machine_client() -> RelyingParty:
    client, secret = register("Machine", grant=Client.GRANT_CLIENT_CREDENTIALS)
    return RelyingParty(client, secret)


def test_token_endpoint_is_rate_limited_per_client(db, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "token-client": "3/m"}
    machine = machine_client()
    for _ in range(3):
        assert machine.token({"grant_type": "client_credentials"}).status_code == 200
    throttled = machine.token({"grant_type": "client_credentials"})
    assert throttled.status_code == 429
    assert throttled.json()["error"] == "temporarily_unavailable"
    assert 1 <= int(throttled["Retry-After"]) <= 60
    # Another client has its own allowance.
    assert machine_client().token({"grant_type": "client_credentials"}).status_code == 200


def test_refused_token_requests_are_limited_per_address(rp, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "token-ip": "3/m"}
    for _ in range(3):
        assert rp.redeem("not-a-code", "not-a-verifier").status_code == 400
    throttled = rp.redeem("not-a-code", "not-a-verifier")
    assert throttled.status_code == 429 and 1 <= int(throttled["Retry-After"]) <= 60
    # The address is blocked for every client it names, a well-behaved one included.
    assert machine_client().token({"grant_type": "client_credentials"}).status_code == 429


def test_a_stranger_cannot_use_up_an_apps_allowance(db, settings):
    """Client ids are public: refused requests naming an app are charged to their sender, not the app."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "token-client": "3/m", "token-ip": "100/m"}
    machine = machine_client()
    stranger = RelyingParty(machine.client, "a-wrong-secret")
    for _ in range(10):
        assert stranger.token({"grant_type": "client_credentials"}).status_code == 401
    for _ in range(3):
        assert machine.token({"grant_type": "client_credentials"}).status_code == 200
    assert machine.token({"grant_type": "client_credentials"}).status_code == 429


# --- refresh tokens ------------------------------------------------------------------------------


def test_refresh_token_replay_revokes_the_whole_family(rp, signed_in_client):
    tokens = rp.sign_in_and_redeem(signed_in_client)
    rotated = rp.refresh(tokens["refresh_token"])
    assert rotated.status_code == 200
    newest = rotated.json()
    assert rp.userinfo(newest["access_token"]).status_code == 200

    replay = rp.refresh(tokens["refresh_token"])  # the old one, from a thief or a confused client
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert rp.refresh(newest["refresh_token"]).status_code == 400, "the family is revoked"
    assert rp.userinfo(newest["access_token"]).status_code == 401


def test_refresh_token_of_another_client_is_refused(rp, signed_in_client):
    tokens = rp.sign_in_and_redeem(signed_in_client)
    other, secret = register("Other app")
    refused = RelyingParty(other, secret).refresh(tokens["refresh_token"])
    assert refused.status_code == 400 and "access_token" not in refused.json()
    assert rp.refresh(tokens["refresh_token"]).status_code == 200


def test_refresh_tokens_end_at_the_absolute_lifetime(rp, signed_in_client, settings):
    tokens = rp.sign_in_and_redeem(signed_in_client)
    rotated = rp.refresh(tokens["refresh_token"]).json()  # fine while the family is young
    lifetime = timedelta(seconds=oidc_settings.OIDC_REFRESH_TOKEN_ABSOLUTE_LIFETIME)
    family = TokenFamily.objects.get(client=rp.client)
    TokenFamily.objects.filter(pk=family.pk).update(created_at=timezone.now() - lifetime - timedelta(minutes=1))
    refused = rp.refresh(rotated["refresh_token"])
    assert refused.status_code == 400 and "access_token" not in refused.json()


def test_refresh_is_refused_once_the_family_is_revoked(rp, signed_in_client):
    tokens = rp.sign_in_and_redeem(signed_in_client)
    TokenFamily.objects.filter(client=rp.client).update(revoked_at=timezone.now())
    assert rp.refresh(tokens["refresh_token"]).status_code == 400


# --- access tokens -------------------------------------------------------------------------------


def test_userinfo_refuses_missing_forged_and_expired_tokens(rp, signed_in_client):
    tokens = rp.sign_in_and_redeem(signed_in_client)
    missing = rp.http.get("/oauth/userinfo/")
    assert missing.status_code == 401
    forged = rp.userinfo(tokens["access_token"][:-2] + "xx")
    assert forged.status_code == 401 and 'error="invalid_token"' in forged["WWW-Authenticate"]
    from oauth2_provider.models import get_access_token_model

    get_access_token_model().objects.filter(application=rp.client).update(expires=timezone.now() - timedelta(seconds=1))
    assert rp.userinfo(tokens["access_token"]).status_code == 401


def test_userinfo_refuses_an_access_token_in_the_query(rp, signed_in_client):
    tokens = rp.sign_in_and_redeem(signed_in_client)
    assert rp.http.get(f"/oauth/userinfo/?access_token={tokens['access_token']}").status_code in (400, 401)


def test_another_client_cannot_revoke_a_token_it_was_not_issued(rp, signed_in_client):
    tokens = rp.sign_in_and_redeem(signed_in_client)
    other, secret = register("Other app")
    intruder = RelyingParty(other, secret)
    response = intruder.http.post("/oauth/revoke/", {"token": tokens["access_token"]}, **intruder.auth())
    assert response.status_code in (200, 400, 401)  # RFC 7009 lets it answer 200 either way
    response = intruder.http.post("/oauth/revoke/", {"token": tokens["refresh_token"]}, **intruder.auth())
    assert response.status_code in (200, 400, 401)
    assert rp.userinfo(tokens["access_token"]).status_code == 200
    assert rp.refresh(tokens["refresh_token"]).status_code == 200


@pytest.mark.parametrize("credentials", ["client_id only", "empty secret", "no client"])
def test_introspection_needs_a_confidential_clients_credentials(rp, public_rp, signed_in_client, credentials):
    tokens = rp.sign_in_and_redeem(signed_in_client)
    data = {"token": tokens["access_token"]}
    if credentials != "no client":
        data["client_id"] = public_rp.client.client_id
    if credentials == "empty secret":
        data["client_secret"] = ""
    response = public_rp.http.post("/oauth/introspect/", data)
    assert response.status_code in (401, 403)
    assert b"ada@example.com" not in response.content


# --- consent: forgery and framing ----------------------------------------------------------------


def test_consent_cannot_be_forged_cross_site(rp, signed_in_client, user):
    browser = Browser(enforce_csrf_checks=True)
    browser.cookies = signed_in_client.cookies  # the same person, in a browser that checks CSRF
    request = rp.authorization()
    forged = browser.post(request["url"], {"decision": "allow"})
    assert forged.status_code == 403 and "Location" not in forged
    assert not Consent.objects.filter(user=user).exists()
    assert not AuthorizationCode.objects.exists()

    page = browser.get(request["url"])
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content).group(1).decode()
    genuine = browser.post(request["url"], {"decision": "allow", "csrfmiddlewaretoken": token})
    assert "code" in rp.callback(genuine)


def test_consent_page_cannot_be_framed(rp, signed_in_client):
    page = signed_in_client.get(rp.authorization()["url"])
    assert page.status_code == 200 and b'name="decision"' in page.content
    assert page["X-Frame-Options"] == "DENY" or "frame-ancestors 'none'" in page.get("Content-Security-Policy", "")
    assert "no-store" in page.get("Cache-Control", "") or "no-cache" in page.get("Cache-Control", "")


def test_consent_cannot_be_given_by_a_link(rp, signed_in_client, user):
    """A GET carrying decision=allow (a link or an <img> on another site) is no answer."""
    request = rp.authorization(decision="allow")
    page = signed_in_client.get(request["url"])
    assert page.status_code == 200 and b'name="decision"' in page.content
    assert not Consent.objects.filter(user=user).exists() and not AuthorizationCode.objects.exists()


def test_form_action_lets_pages_end_only_at_the_apps_registered_origin(rp, signed_in_client, client):
    """Browsers apply CSP form-action to the redirect after a form post: the consent and sign-in pages
    of an authorization request may end at the app's registered origin, and at no other."""

    def form_action(response) -> set[str]:
        csp = response["Content-Security-Policy"]
        directive = next(part.strip() for part in csp.split(";") if part.strip().startswith("form-action"))
        return set(directive.split()[1:])

    consent = signed_in_client.get(rp.authorization()["url"])
    assert consent.status_code == 200
    assert form_action(consent) == {"'self'", "https://rp.example"}
    signin = client.get(client.get(rp.authorization()["url"])["Location"])
    assert signin.status_code == 200 and form_action(signin) == {"'self'", "https://rp.example"}
    refused = signed_in_client.get(rp.authorization(redirect_uri="https://evil.example/callback")["url"])
    assert refused.status_code == 400 and form_action(refused) == {"'self'"}
    spoofed = client.get(
        "/accounts/login/?next=" + "/oauth/authorize/%3Fclient_id%3Dnope%26redirect_uri%3Dhttps://evil.example/"
    )
    assert form_action(spoofed) == {"'self'"}


def test_login_hint_is_escaped_on_the_sign_in_page(rp, client):
    response = client.get(rp.authorization(login_hint='"><script>alert(1)</script>')["url"])
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b"<script>alert(1)</script>" not in page.content
    assert b"&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page.content


def test_consent_page_names_the_person_and_escapes_the_app_name(signed_in_client, user):
    client, secret = register('<img src=x onerror="alert(1)">')
    page = signed_in_client.get(RelyingParty(client, secret).authorization()["url"])
    assert page.status_code == 200
    assert b"<img src=x" not in page.content and b"&lt;img src=x" in page.content
    assert user.email.encode() in page.content


# --- RFC 9207 on every authorization response ----------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"code_challenge": None, "code_challenge_method": None},
        {"scope": "openid address"},
        {"response_type": "token"},
    ],
)
def test_error_responses_carry_iss(rp, signed_in_client, overrides):
    request = rp.authorization(**overrides)
    returned = response_params(signed_in_client.get(request["url"]))
    assert returned["error"] and returned["state"] == request["params"]["state"]
    assert returned.get("iss") == ISSUER


# --- account events end what apps were granted ----------------------------------------------------


def _grant(rp, browser):
    tokens = rp.sign_in_and_redeem(browser)
    assert rp.userinfo(tokens["access_token"]).status_code == 200
    return tokens


def _assert_ended(rp, tokens):
    assert rp.userinfo(tokens["access_token"]).status_code == 401
    refused = rp.refresh(tokens["refresh_token"])
    assert refused.status_code == 400 and "access_token" not in refused.json()


def test_deactivating_the_person_revokes_their_tokens(rp, public_rp, signed_in_client, user):
    from accounts.flows.lifecycle import deactivate_user

    granted = [(rp, _grant(rp, signed_in_client)), (public_rp, _grant(public_rp, signed_in_client))]
    deactivate_user(user)
    for app, tokens in granted:
        _assert_ended(app, tokens)
    assert not TokenFamily.objects.filter(user=user, revoked_at__isnull=True).exists()


def test_a_password_reset_revokes_the_persons_tokens(rp, signed_in_client, user):
    from accounts.flows.password import complete_password_reset

    tokens = _grant(rp, signed_in_client)
    refreshed = rp.refresh(tokens["refresh_token"]).json()
    complete_password_reset(RequestFactory().post("/"), user, "a brand new passphrase 7")
    user.refresh_from_db()
    assert user.is_active  # refused because revoked, not because the account is off
    _assert_ended(rp, refreshed)


def test_this_wasnt_me_revokes_the_persons_tokens(rp, signed_in_client, user):
    tokens = _grant(rp, signed_in_client)
    other_browser = Browser(raise_request_exception=False)
    sign_in_with_password(other_browser, user.email)
    other_app, secret = register("Other app")
    other_rp = RelyingParty(other_app, secret)
    other_tokens = _grant(other_rp, other_browser)

    response = signed_in_client.post("/accounts/security/not-me/", {"password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/accounts/not-me/done/"
    _assert_ended(rp, tokens)
    _assert_ended(other_rp, other_tokens)  # every session's apps, not only this browser's


def test_signing_out_revokes_the_tokens_of_that_session_only(rp, signed_in_client, user):
    tokens = _grant(rp, signed_in_client)
    other_browser = Browser(raise_request_exception=False)
    sign_in_with_password(other_browser, user.email)
    other_tokens = _grant(rp, other_browser)

    assert signed_in_client.post("/accounts/logout/").status_code == 302
    _assert_ended(rp, tokens)
    assert rp.userinfo(other_tokens["access_token"]).status_code == 200
    assert rp.refresh(other_tokens["refresh_token"]).status_code == 200


def test_a_signed_out_browser_gets_no_code_from_prompt_none(rp, signed_in_client):
    rp.sign_in_and_redeem(signed_in_client)
    signed_in_client.post("/accounts/logout/")
    request = rp.authorization(prompt="none")
    returned = rp.callback(signed_in_client.get(request["url"]))
    assert returned["error"] == "login_required" and "code" not in returned


def test_a_deactivated_persons_unredeemed_code_buys_nothing(rp, signed_in_client, user):
    from accounts.flows.lifecycle import deactivate_user

    code, request = authorize(rp, signed_in_client)
    deactivate_user(user)
    refused = rp.redeem(code, request["verifier"])
    assert refused.status_code == 400 and "access_token" not in refused.json()


def test_password_sign_in_still_works_after_revocations(rp, client, user):
    """The revocations above are about tokens; the person can come back and sign in again."""
    from accounts.flows.password import complete_password_reset

    complete_password_reset(RequestFactory().post("/"), user, PASSWORD + " renewed")
    response = client.post("/accounts/login/", {"email": user.email, "password": PASSWORD + " renewed"})
    assert response.status_code == 302
    assert rp.sign_in_and_redeem(client)["claims"]["sub"] == str(user.subject)
