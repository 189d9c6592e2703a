"""ES256 and RS256. Each app's ID and logout tokens, and each API's access tokens, are signed with the
algorithm it was registered with (ES256 for new ones, RS256 for those from before, migration 0011);
discovery offers both and the JWKS carries a key for each. Tokens are verified as an app or API would:
from the JWKS, by `kid`, with the one algorithm it expects (authlib, jwcrypto, joserfc, PyJWT).

An ID token hint is verified only with the algorithm of the key its `kid` names (RFC 8725 §2.1,
§3.1): the attacks below take a genuine token's claims (its `jti` is on record, so only the signature
decides) under headers that ask for another algorithm.
"""

from __future__ import annotations

import base64
import io
import json

import jwt as pyjwt
import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client as Browser
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import KeySet
from jwcrypto import jwk, jws, jwt
from oauth2_provider.models import AccessToken

from oidc import keys, signing
from oidc.logout import logout_token
from oidc.models import Api, Client
from tests.oidc.apis import add_scope, register_api
from tests.oidc.relying_party import REDIRECT_URI, SECRET, RelyingParty, register
from tests.oidc.test_apis import verify_access_token
from tests.users import sign_in_admin

pytestmark = pytest.mark.django_db

BYE = "https://rp.example/bye"
KEY_TYPE = {"ES256": "EC", "RS256": "RSA"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def header_of(token: str) -> dict:
    part = token.split(".", 1)[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def jwks(rp: RelyingParty) -> dict:
    return rp.http.get("/oauth/jwks/").json()


def app_with(algorithm: str, **fields) -> RelyingParty:
    client, secret = register(f"{algorithm} app", algorithm=algorithm, post_logout_redirect_uris=BYE, **fields)
    return RelyingParty(client, secret)


def verified_by_jwcrypto(rp: RelyingParty, token: str, algorithm: str) -> dict:
    """As an app using jwcrypto: the key by `kid` from the JWKS, only the algorithm it registered."""
    key = jwk.JWKSet.from_json(json.dumps(jwks(rp))).get_key(header_of(token)["kid"])
    assert key is not None, "the token's kid is not in the JWKS"
    return json.loads(jwt.JWT(jwt=token, key=key, algs=[algorithm]).claims)


# --- ID tokens ------------------------------------------------------------------------------------


def test_a_new_app_gets_es256_id_tokens_verifiable_from_the_jwks_by_kid(rp, signed_in_client, user):
    assert rp.client.algorithm == "ES256"  # the default for new apps
    body = rp.sign_in_and_redeem(signed_in_client)  # authlib, accepting ES256 only
    token = body["id_token"]
    header = header_of(token)
    assert header == {"alg": "ES256", "typ": "JWT", "kid": keys.active_key("ES256").kid}
    [named] = [key for key in jwks(rp)["keys"] if key["kid"] == header["kid"]]
    assert (named["kty"], named["crv"], named["alg"], named["use"]) == ("EC", "P-256", "ES256", "sig")
    assert len(base64.urlsafe_b64decode(token.split(".")[2] + "==")) == 64  # JOSE's r || s, not DER
    claims = verified_by_jwcrypto(rp, token, "ES256")
    assert claims["aud"] == rp.client.client_id and claims["sub"] == str(user.subject)
    # DOT reads the ID token back to link it to the access token: with the EC key, too.
    assert AccessToken.objects.get(application=rp.client).id_token is not None
    # A refresh brings an ES256 ID token as well.
    refreshed = rp.refresh(body["refresh_token"]).json()["id_token"]
    assert header_of(refreshed)["alg"] == "ES256"
    rp.id_claims(refreshed)


def test_an_rs256_app_still_gets_rs256_id_tokens(signed_in_client):
    rp = app_with("RS256")
    body = rp.sign_in_and_redeem(signed_in_client)  # authlib, accepting RS256 only
    header = header_of(body["id_token"])
    assert header == {"alg": "RS256", "typ": "JWT", "kid": keys.active_key("RS256").kid}
    [named] = [key for key in jwks(rp)["keys"] if key["kid"] == header["kid"]]
    assert (named["kty"], named["alg"]) == ("RSA", "RS256")
    verified_by_jwcrypto(rp, body["id_token"], "RS256")
    with pytest.raises(jws.InvalidJWSSignature):  # an app that expects ES256 would refuse it
        verified_by_jwcrypto(rp, body["id_token"], "ES256")
    refreshed = rp.refresh(body["refresh_token"]).json()["id_token"]
    assert header_of(refreshed)["alg"] == "RS256"


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_logout_tokens_are_signed_with_the_apps_algorithm(algorithm, user):
    rp = app_with(algorithm, backchannel_logout_uri="https://rp.example/backchannel")
    token = logout_token(rp.client, str(user.subject), "a-session")
    decoded = joserfc_jwt.decode(token, KeySet.import_key_set(jwks(rp)), algorithms=[algorithm])
    assert decoded.header == {"alg": algorithm, "typ": "logout+jwt", "kid": keys.active_key(algorithm).kid}
    assert decoded.claims["aud"] == rp.client.client_id and decoded.claims["sid"] == "a-session"


# --- access tokens for APIs ------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_access_tokens_are_signed_with_the_apis_algorithm(algorithm):
    api = register_api("Ledger", "https://ledger.example/api")
    api.algorithm = algorithm
    api.save()
    client, secret = register("Batch", grant=Client.GRANT_CLIENT_CREDENTIALS)
    client.granted_scopes.add(add_scope(api, "ledger.read"))
    machine = RelyingParty(client, secret)
    token = machine.token({"grant_type": "client_credentials"}).json()["access_token"]
    assert header_of(token) == {"alg": algorithm, "typ": "at+jwt", "kid": keys.active_key(algorithm).kid}
    issuer = "http://testserver"
    claims = verify_access_token(token, jwks=jwks(machine), issuer=issuer, audience=api.identifier, algorithm=algorithm)
    assert claims["scope"] == "ledger.read"
    other = {"ES256": "RS256", "RS256": "ES256"}[algorithm]
    with pytest.raises(pyjwt.InvalidTokenError, match="algorithm"):  # the docs' verifier: its API's algorithm only
        verify_access_token(token, jwks=jwks(machine), issuer=issuer, audience=api.identifier, algorithm=other)


# --- choosing the algorithm ------------------------------------------------------------------------


def test_apps_and_apis_are_es256_unless_registered_otherwise(make_admin):
    assert Client().algorithm == "ES256" and Api().algorithm == "ES256"
    out = io.StringIO()
    call_command("register_client", "--name", "Cli", "--redirect-uri", REDIRECT_URI, "--json", stdout=out)
    assert Client.objects.get(client_id=json.loads(out.getvalue())["client_id"]).algorithm == "ES256"
    out = io.StringIO()
    call_command(
        "register_client", "--name", "Old lib", "--redirect-uri", REDIRECT_URI, "--algorithm", "RS256", "--json",
        stdout=out,
    )  # fmt: skip
    assert Client.objects.get(client_id=json.loads(out.getvalue())["client_id"]).algorithm == "RS256"

    admin = sign_in_admin(make_admin())
    page = admin.get("/admin/oidc/client/add/").content.decode()
    assert '<option value="ES256" selected>' in page and '<option value="RS256">' in page
    assert '<option value="ES256" selected>' in admin.get("/admin/oidc/api/add/").content.decode()
    added = admin.post(
        "/admin/oidc/client/add/",
        {
            "name": "Chosen",
            "client_type": Client.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": Client.GRANT_AUTHORIZATION_CODE,
            "redirect_uris": REDIRECT_URI,
            "allowed_scopes": "openid",
            "algorithm": "RS256",
            "_save": "Save",
        },
    )
    assert added.status_code == 200, added.content
    assert Client.objects.get(name="Chosen").algorithm == "RS256"


@pytest.mark.parametrize("algorithm", ["HS256", "none", "", "PS256"])
def test_no_other_algorithm_can_be_chosen(algorithm):
    """Never HS256 (the client secret as the key, DOT's other choice) nor none."""
    with pytest.raises(ValidationError, match="algorithm"):
        register("Odd", algorithm=algorithm)
    with pytest.raises(CommandError, match="algorithm"):
        call_command("register_client", "--name", "Odd", "--redirect-uri", REDIRECT_URI, "--algorithm", algorithm)


# --- ID token hints ---------------------------------------------------------------------------------


def log_out_with(browser: Browser, rp: RelyingParty, hint: str):
    return browser.get(
        "/oauth/logout/", {"id_token_hint": hint, "client_id": rp.client.client_id, "post_logout_redirect_uri": BYE}
    )


def silent_with(browser: Browser, rp: RelyingParty, hint: str) -> dict:
    return rp.callback(browser.get(rp.authorization(prompt="none", id_token_hint=hint)["url"]))


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
def test_an_id_token_hint_signed_with_either_key_works(algorithm, signed_in_client):
    rp = app_with(algorithm)
    hint = rp.sign_in_and_redeem(signed_in_client)["id_token"]
    assert "code" in silent_with(signed_in_client, rp, hint)
    response = log_out_with(signed_in_client, rp, hint)
    assert response.status_code == 302 and response["Location"].startswith(BYE)  # at once: the hint names her
    assert signed_in_client.get("/accounts/").status_code == 302


def _resigned(genuine: str, header: dict, key: jwk.JWK) -> str:
    payload = genuine.split(".")[1]
    token = jws.JWS(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    token.allowed_algs = [header["alg"]]
    token.add_signature(key, protected=json.dumps(header))
    return token.serialize(compact=True)


def forge(kind: str, genuine: str) -> str:
    """`genuine`'s claims under a header that asks for another way of checking them."""
    rsa, ec = keys.active_key("RS256"), keys.active_key("ES256")
    payload = genuine.split(".")[1]
    if kind == "none":
        return f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT', 'kid': ec.kid}).encode())}.{payload}."
    if kind.startswith("HS256"):  # the published key, as an attacker has it, taken as an HMAC secret
        victim = rsa if "RSA" in kind else ec
        secret = victim.key.export_to_pem()  # the public key's PEM
        return _resigned(genuine, {"alg": "HS256", "typ": "JWT", "kid": victim.kid}, jwk.JWK(kty="oct", k=b64(secret)))
    if kind == "ES256 with the RSA key's kid":
        return _resigned(genuine, {"alg": "ES256", "typ": "JWT", "kid": rsa.kid}, ec.key)
    if kind == "RS256 with the EC key's kid":
        return _resigned(genuine, {"alg": "RS256", "typ": "JWT", "kid": ec.kid}, rsa.key)
    # Our own RSA key with an algorithm it is not for (a verifier that trusts the header accepts it).
    return _resigned(genuine, {"alg": kind.split()[0], "typ": "JWT", "kid": rsa.kid}, rsa.key)


ATTACKS = [
    "HS256 with the RSA public key as the secret",
    "HS256 with the EC public key as the secret",
    "none",
    "ES256 with the RSA key's kid",
    "RS256 with the EC key's kid",
    "RS384 with the RSA key",
    "PS256 with the RSA key",
]


@pytest.mark.parametrize("kind", ATTACKS)
def test_an_id_token_hint_that_asks_for_another_algorithm_is_refused(kind, signed_in_client):
    rp = app_with("RS256" if "RSA" in kind or kind.startswith(("RS", "PS")) else "ES256")
    genuine = rp.sign_in_and_redeem(signed_in_client)["id_token"]
    forged = forge(kind, genuine)
    assert forged.split(".")[1] == genuine.split(".")[1]  # the same claims: only the header and signature differ
    assert signing.verification_key(genuine) is not None

    assert signing.verification_key(forged) is None
    silent = silent_with(signed_in_client, rp, forged)
    assert silent.get("error") == "login_required" and "code" not in silent
    refused = log_out_with(signed_in_client, rp, forged)
    assert refused.status_code == 400 and b"This sign-out link is not valid" in refused.content
    assert signed_in_client.get("/accounts/security/").status_code == 200  # still signed in


@pytest.mark.parametrize("garbage", ["", "a.b", "a.b.c", "....", "e30.e30.", '{"payload": "e30", "signatures": []}'])
def test_a_hint_that_is_no_compact_jws_names_no_key(garbage):
    assert signing.verification_key(garbage) is None


# --- migration 0011 ---------------------------------------------------------------------------------


def migrate(targets=None):
    executor = MigrationExecutor(connection)
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_apps_and_apis_registered_before_es256_keep_rs256():
    old = migrate([("oidc", "0010_client_protocol")])
    OldClient, OldApi = old.get_model("oidc", "Client"), old.get_model("oidc", "Api")
    fields = {"client_type": "confidential", "authorization_grant_type": "authorization-code", "client_secret": SECRET}
    before = OldClient.objects.create(name="Before", redirect_uris=REDIRECT_URI, algorithm="RS256", **fields)
    blank = OldClient.objects.create(name="Blank", redirect_uris=REDIRECT_URI, algorithm="", **fields)
    old_api = OldApi.objects.create(name="Old API", identifier="https://old.example/api")

    migrate()

    assert Client.objects.get(pk=before.pk).algorithm == "RS256"
    assert Client.objects.get(pk=blank.pk).algorithm == "RS256"
    assert Api.objects.get(pk=old_api.pk).algorithm == "RS256"
    assert register("After")[0].algorithm == "ES256"
    assert register_api("New API", "https://new.example/api").algorithm == "ES256"
