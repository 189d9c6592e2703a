"""An attacker's review of issue 18's credential paths: the token endpoint rewritten over raw SQL
(oidc.rotation, oidc.rows, the code row read once per request), ES256 next to RS256, and the one-query
"has a second factor?".

Each test is an attack, or a property an attack would need broken, that the rewrite must still refuse:
a code or refresh token used by an app it was not issued to, two requests racing with one refresh token
(ordered here so that both have read the token before either spends it), a spent token's family, scopes
widened at a refresh, a row written by hand that the ORM would have written otherwise.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.hashers import identify_hasher
from django.test import Client as Browser
from django.utils import timezone
from jwcrypto import jwk, jws
from oauth2_provider.models import AccessToken, IDToken, RefreshToken, set_token_value
from oauthlib.common import Request
from oauthlib.oauth2.rfc6749 import errors

from mfa.models import Passkey
from mfa.policy import has_second_factor
from oidc import keys, rotation, rows
from oidc.models import AuthorizationCode, Client, TokenFamily
from oidc.validators import IdentityValidator
from tests.oidc.relying_party import REDIRECT_URI, RelyingParty, approve, register
from tests.users import PASSWORD, add_totp


def authorize(rp: RelyingParty, browser: Browser, **overrides) -> tuple[str, dict]:
    request = rp.authorization(**overrides)
    return rp.callback(approve(browser, request["url"]))["code"], request


def live_family(family) -> tuple[list, list]:
    """What of a token family still works: its unrevoked refresh tokens and their access tokens."""
    live = list(RefreshToken.objects.filter(token_family=family, revoked__isnull=True))
    access = [token.access_token_id for token in live if token.access_token_id]
    return live, access


# --- codes: the row read once per request stays bound to the app that asked for it --------------------


def test_a_code_read_once_is_still_only_the_apps_that_asked_for_it(rp, signed_in_client):
    """oauthlib first asks for the code's scopes without naming a client (the row is read and kept), then
    validates it for the client that authenticated: another app must find no code, no PKCE challenge
    and no redirect URI to check, from the kept row."""
    code, _ = authorize(rp, signed_in_client)
    other, _ = register("Other app")
    validator, request = IdentityValidator(), Request("https://testserver/oauth/token/")
    request.client = other
    assert validator.get_authorization_code_scopes(other.client_id, code, REDIRECT_URI, request)  # read, kept
    assert validator.validate_code(other.client_id, code, other, request) is False
    assert validator.get_code_challenge(code, request) is None
    assert validator.get_code_challenge_method(code, request) is None
    with pytest.raises(errors.InvalidGrantError):
        validator.confirm_redirect_uri(other.client_id, code, REDIRECT_URI, other, request)
    request.client = rp.client  # the same kept row, for the app it was issued to
    assert validator.get_code_challenge(code, request)


@pytest.mark.parametrize("thief_is_public", [False, True])
def test_another_app_cannot_redeem_a_code_with_its_verifier_nor_spend_it(rp, signed_in_client, thief_is_public):
    """The thief has the code, its verifier and the redirect URI (all in the victim's front channel);
    it gets nothing, and the code still works for the app it was issued to."""
    code, request = authorize(rp, signed_in_client)
    other, secret = register(
        "Thief", client_type=Client.CLIENT_PUBLIC if thief_is_public else Client.CLIENT_CONFIDENTIAL
    )
    refused = RelyingParty(other, secret).redeem(code, request["verifier"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert not AccessToken.objects.filter(application=other).exists()
    assert rp.redeem(code, request["verifier"]).status_code == 200


def test_a_code_is_checked_against_its_own_challenge_not_another_codes(rp, signed_in_client):
    """Two codes of one app in flight: the verifier of one does not redeem the other (the kept row is
    the code's own, never the last one read)."""
    first, first_request = authorize(rp, signed_in_client)
    second, second_request = authorize(rp, signed_in_client)
    assert rp.redeem(first, second_request["verifier"]).status_code == 400
    assert rp.redeem(second, first_request["verifier"]).status_code == 400
    assert rp.redeem(second, second_request["verifier"]).status_code == 200


def test_a_code_redeemed_twice_in_one_request_body_is_refused(rp, signed_in_client):
    code, request = authorize(rp, signed_in_client)
    other, _ = authorize(rp, signed_in_client)
    body = urlencode(
        [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code", other),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", request["verifier"]),
        ]
    )
    response = rp.http.post("/oauth/token/", body, content_type="application/x-www-form-urlencoded", **rp.auth())
    assert response.status_code == 400 and "access_token" not in response.json()


# --- refresh tokens ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_refreshes_that_both_read_the_token_before_either_spends_it_leave_nothing_alive(user, monkeypatch):
    """The interleaving the conditional UPDATE exists for, forced: both requests have validated the live
    token, then both spend it. The loser waits for the winner's transaction, finds the token spent and
    ends the family, the winner's new tokens with it; nobody keeps a live token."""
    browser = Browser()
    assert browser.post("/accounts/login/", {"email": user.email, "password": PASSWORD}).status_code == 302
    client, secret = register()
    tokens = RelyingParty(client, secret).sign_in_and_redeem(browser)
    family = rotation.find(tokens["refresh_token"]).token.token_family

    both_validated = threading.Barrier(2)
    real_spend = rotation.spend

    def spend_when_both_have_read(token):
        both_validated.wait(timeout=10)
        return real_spend(token)

    monkeypatch.setattr(rotation, "spend", spend_when_both_have_read)
    results: list = [None, None]

    def refresh(i):
        from django.db import connection

        try:
            results[i] = RelyingParty(client, secret).refresh(tokens["refresh_token"])
        finally:
            connection.close()

    threads = [threading.Thread(target=refresh, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(r.status_code for r in results) == [200, 400], [r.content for r in results]
    winner = next(r for r in results if r.status_code == 200).json()
    assert live_family(family) == ([], [])
    rp = RelyingParty(client, secret)
    assert rp.refresh(winner["refresh_token"]).status_code == 400
    assert rp.userinfo(winner["access_token"]).status_code == 401


def test_another_apps_live_refresh_token_is_refused_and_left_as_it_was(rp, signed_in_client):
    tokens = rp.sign_in_and_redeem(signed_in_client)
    before = rotation.find(tokens["refresh_token"]).token
    other, secret = register("Thief")
    refused = RelyingParty(other, secret).refresh(tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    after = rotation.find(tokens["refresh_token"]).token
    assert (after.revoked, after.access_token_id) == (None, before.access_token_id), "not spent"
    assert AccessToken.objects.filter(pk=before.access_token_id).exists()
    assert not AccessToken.objects.filter(application=other).exists()


def test_a_spent_token_brought_by_another_app_still_ends_the_family(rp, signed_in_client):
    """As DOT does with a grace period of 0: a spent token came back, from whoever, so it leaked."""
    tokens = rp.sign_in_and_redeem(signed_in_client)
    rotated = rp.refresh(tokens["refresh_token"]).json()
    other, secret = register("Thief")
    assert RelyingParty(other, secret).refresh(tokens["refresh_token"]).status_code == 400
    assert rp.refresh(rotated["refresh_token"]).status_code == 400
    assert rp.userinfo(rotated["access_token"]).status_code == 401


def test_a_refresh_cannot_widen_the_scopes_nor_widen_back_after_narrowing(rp, signed_in_client):
    tokens = rp.sign_in_and_redeem(signed_in_client, scope="openid email offline_access")
    wider = rp.token(
        {
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "scope": "openid email profile offline_access",
        }
    )
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    narrowed = rp.token(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "scope": "openid offline_access"}
    )
    assert narrowed.status_code == 200 and narrowed.json()["scope"] == "openid offline_access"
    back = rp.token(
        {
            "grant_type": "refresh_token",
            "refresh_token": narrowed.json()["refresh_token"],
            "scope": "openid email offline_access",
        }
    )
    assert back.status_code == 400 and back.json()["error"] == "invalid_scope"


def test_a_refresh_for_a_saml_app_is_invalid_client(rp, signed_in_client):
    """The client read by hand (validators._CLIENT) still goes through DOT's checks: a SAML service
    provider is no OAuth client."""
    tokens = rp.sign_in_and_redeem(signed_in_client)
    Client.objects.filter(pk=rp.client.pk).update(protocol=Client.Protocol.SAML)
    refused = rp.refresh(tokens["refresh_token"])
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


def _basic(credentials: bytes) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(credentials).decode()}


NUL_REQUESTS = {
    "token, Basic": ("post", "/oauth/token/", {"grant_type": "client_credentials"}, _basic(b"a%00b:secret")),
    "token, body": (
        "post",
        "/oauth/token/",
        {"grant_type": "client_credentials", "client_id": "a\x00b", "client_secret": "x"},
        {},
    ),
    "refresh, public": (
        "post",
        "/oauth/token/",
        {"grant_type": "refresh_token", "refresh_token": "x", "client_id": "a\x00"},
        {},
    ),
    "revoke": ("post", "/oauth/revoke/", {"token": "x", "client_id": "a\x00b"}, {}),
    "introspect": ("post", "/oauth/introspect/", {"token": "x"}, _basic(b"a%00b:secret")),
    "authorize": (
        "get",
        "/oauth/authorize/?response_type=code&client_id=a%00b&redirect_uri=https://rp.example/callback&scope=openid",
        {},
        {},
    ),
    "sign-in page leading to authorize": (
        "get",
        "/accounts/login/?next=/oauth/authorize/%3Fclient_id%3D%2500%26redirect_uri%3Dhttps://x",
        {},
        {},
    ),
    "logout": ("get", "/oauth/logout/?client_id=a%00&post_logout_redirect_uri=https://rp.example/bye", {}, {}),
    "logout, unknown app": (
        "get",
        "/oauth/logout/?client_id=no-such-app&post_logout_redirect_uri=https://rp.example/bye",
        {},
        {},
    ),
}


@pytest.mark.parametrize("name", NUL_REQUESTS)
def test_a_client_id_no_client_can_have_is_refused_not_a_server_error(db, name):
    """A NUL byte (PostgreSQL text cannot hold one: psycopg 3 raises DataError where DOT expects
    psycopg2's ValueError) or an unknown app at logout: anyone can send it, unauthenticated, to every
    endpoint that names a client. It names no client: refused (or the page shown), never a 500 and its traceback."""
    method, url, data, headers = NUL_REQUESTS[name]
    response = getattr(Browser(raise_request_exception=False), method)(url, data, **headers)
    assert response.status_code < 500, response.status_code


# --- oidc.rows: a field the ORM writes one way must not be written another -------------------------------


def test_a_refresh_token_written_and_read_by_hand_keeps_its_json_uuid_and_instants(user, rp):
    """JSON with what needs escaping, a UUID, a datetime in another zone: the ORM's values both ways."""
    family, resource = uuid.uuid4(), ['urn:api:"quoted"', "https://api.example/ä\\x"]
    access = AccessToken(user=user, application=rp.client, scope="openid", resource=resource)
    access.expires = datetime(2031, 3, 30, 1, 30, tzinfo=ZoneInfo("Asia/Kolkata"))  # 2031-03-29 20:00 UTC
    set_token_value(access, "hand-access")
    rows.insert(access)
    refresh = RefreshToken(
        user=user, application=rp.client, access_token=access, token_family=family, resource=resource
    )
    set_token_value(refresh, "hand-refresh")
    rows.insert(refresh)

    by_orm = RefreshToken.objects.select_related("access_token").get(pk=refresh.pk)
    assert (by_orm.token_family, by_orm.resource, by_orm.token) == (family, resource, "")
    assert by_orm.access_token.expires == datetime(2031, 3, 29, 20, 0, tzinfo=ZoneInfo("UTC"))
    by_hand = rotation.find("hand-refresh").token
    fields = [field.attname for field in RefreshToken._meta.concrete_fields]
    assert [getattr(by_hand, name) for name in fields] == [getattr(by_orm, name) for name in fields]
    assert by_hand.access_token.expires == by_orm.access_token.expires
    assert by_hand.access_token.resource == resource


def test_a_token_family_read_by_hand_keeps_how_the_person_signed_in(rp, signed_in_client):
    tokens = rp.sign_in_and_redeem(signed_in_client)
    found = rotation.find(tokens["refresh_token"])
    stored = TokenFamily.objects.get(family=found.token.token_family)
    assert found.family.auth_context() == stored.auth_context()
    assert isinstance(found.family.amr, list) and found.family.amr == tokens["claims"]["amr"]
    assert found.family.created_at == stored.created_at and found.family.created_at.tzinfo is not None
    assert found.token.user.subject == stored.user.subject and str(found.token.user.subject) == tokens["claims"]["sub"]


def test_a_client_written_by_hand_has_its_secret_hashed_as_the_orm_would(db):
    """pre_save is what hashes a client secret: a row inserted by hand must never hold it in clear."""
    client = Client(
        name="By hand",
        client_type=Client.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Client.GRANT_AUTHORIZATION_CODE,
        redirect_uris=REDIRECT_URI,
        client_secret="clear-" + "y" * 40,
    )
    rows.insert(client)
    stored = Client.objects.get(pk=client.pk)
    assert stored.client_secret != "clear-" + "y" * 40
    identify_hasher(stored.client_secret)
    assert IdentityValidator()._check_secret("clear-" + "y" * 40, stored.client_secret)


def test_an_id_token_row_written_by_hand_is_found_by_its_jti(rp, signed_in_client):
    tokens = rp.sign_in_and_redeem(signed_in_client)
    record = IDToken.objects.get(jti=tokens["claims"]["jti"])
    assert record.application_id == rp.client.pk and record.expires.tzinfo is not None
    assert AccessToken.objects.get(id_token=record).application_id == rp.client.pk
    assert IdentityValidator()._load_id_token(tokens["id_token"]) == record


# --- signing: a kid names a key, the key decides the algorithm -------------------------------------------


def test_a_hint_under_our_kid_signed_with_someone_elses_key_is_refused(rp, signed_in_client):
    """The header names our published EC key and its right algorithm, the signature is the attacker's."""
    genuine = rp.sign_in_and_redeem(signed_in_client)["id_token"]
    payload = genuine.split(".")[1]
    forged = jws.JWS(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged.add_signature(
        jwk.JWK.generate(kty="EC", crv="P-256"),
        protected=json.dumps({"alg": "ES256", "typ": "JWT", "kid": keys.active_key("ES256").kid}),
    )
    assert IdentityValidator()._load_id_token(forged.serialize(compact=True)) is None
    assert IdentityValidator()._load_id_token(genuine) is not None


# --- mfa.policy: the one-query "has a second factor?" decides whether MFA is asked ---------------------


def test_has_second_factor_counts_only_the_persons_confirmed_factors(make_user):
    ada, bob = make_user(), make_user("bob@example.com")
    assert not has_second_factor(ada)
    add_totp(bob)
    device = add_totp(ada)
    device.confirmed = False
    device.save()
    assert not has_second_factor(ada), "an unconfirmed authenticator app, or someone else's, is none"
    Passkey.objects.create(user=ada, user_handle=b"h" * 16, credential_id=b"c" * 16, public_key=b"k", name="Key")
    assert has_second_factor(ada), "a passkey alone"
    Passkey.objects.filter(user=ada).delete()
    device.confirmed = True
    device.save()
    assert has_second_factor(ada), "an authenticator app alone"


def test_a_password_sign_in_with_only_a_passkey_still_asks_for_the_second_factor(user):
    Passkey.objects.create(user=user, user_handle=b"h" * 16, credential_id=b"c" * 16, public_key=b"k", name="Key")
    browser = Browser()
    response = browser.post("/accounts/login/", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert browser.get("/accounts/").status_code == 302, "not signed in before the second factor"


def test_a_second_request_with_a_redeemed_code_reads_it_again_and_revokes_what_it_bought(rp, signed_in_client):
    """The kept code row lives on the oauthlib request, one per HTTP request: a second exchange of the same
    code reads the row again, finds it gone and revokes what the first bought."""
    code, request = authorize(rp, signed_in_client)
    first = rp.redeem(code, request["verifier"]).json()
    assert not AuthorizationCode.objects.filter(code=code).exists()
    assert rp.redeem(code, request["verifier"]).status_code == 400
    assert rp.userinfo(first["access_token"]).status_code == 401
    assert timezone.now() - timedelta(minutes=1) < TokenFamily.objects.get(client=rp.client).revoked_at
