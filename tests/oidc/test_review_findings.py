"""Issue 13 section 6: what a security review and an independent client found in the OAuth details.

Each test plays the attacker (or the strict client) against the real token, introspection and
readiness endpoints, on PostgreSQL and Redis:

- a code redeemed without the `redirect_uri` its authorization request named (RFC 6749 §4.1.3);
- introspection by clients that are not resource servers, and of tokens outside a resource server's
  scopes (RFC 7662 §2.2, §4);
- `offline_access` (OpenID Connect Core 11): a refresh token only when asked for and consented to;
- a missing or unreadable signing keyset: a startup error and a `/readyz` failure, never a 500.
"""

from __future__ import annotations

import pytest

from identity.oidc.models import AuthorizationCode, Client
from tests.oidc.conftest import REDIRECT_URI, RelyingParty, approve, register, register_client


def authorize(rp: RelyingParty, browser, **overrides) -> tuple[str, dict]:
    """A code for `rp`, through consent; returns the code and the request it answered."""
    request = rp.authorization(**overrides)
    returned = rp.callback(approve(browser, request["url"]))
    return returned["code"], request


# --- redirect_uri at the token endpoint ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["confidential", "public"])
def test_code_without_redirect_uri_is_invalid_grant(signed_in_client, kind):
    """The app has exactly one registered URI, so oauthlib would fill it in: the attacker (or a sloppy
    client) must still repeat the redirect_uri the authorization request named."""
    client_type = Client.CLIENT_CONFIDENTIAL if kind == "confidential" else Client.CLIENT_PUBLIC
    client, secret = register(f"One URI ({kind})", client_type=client_type)
    rp = RelyingParty(client, secret)
    code, request = authorize(rp, signed_in_client)
    refused = rp.token({"grant_type": "authorization_code", "code": code, "code_verifier": request["verifier"]})
    assert refused.status_code == 400, refused.content
    assert refused.json()["error"] == "invalid_grant"
    assert "access_token" not in refused.json()
    # The refusal spends nothing: the rightful exchange, with the redirect_uri, still works once.
    assert AuthorizationCode.objects.filter(code=code).exists()
    assert rp.redeem(code, request["verifier"]).status_code == 200


@pytest.fixture
def two_uris(db) -> RelyingParty:
    client, secret = register_client(
        f"{REDIRECT_URI} https://rp.example/second", name="Two URIs", client_type=Client.CLIENT_CONFIDENTIAL
    )
    return RelyingParty(client, secret)


@pytest.mark.parametrize("redirect_uri", [None, "https://rp.example/second"], ids=["missing", "another registered"])
def test_code_with_another_or_no_redirect_uri_is_invalid_grant(signed_in_client, two_uris, redirect_uri):
    code, request = authorize(two_uris, signed_in_client)
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": request["verifier"]}
    if redirect_uri:
        data["redirect_uri"] = redirect_uri  # registered, but not the one this code was issued for
    refused = two_uris.token(data)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"  # RFC 6749 §5.2
    assert two_uris.redeem(code, request["verifier"]).status_code == 200
