"""The protocol calls to an upstream provider, all through authlib (its Django client): discovery, the
authorization URL with state, nonce and PKCE S256, the code exchange, and the ID token's validation
(signature against the provider's JWKS, iss, aud, exp, nonce, at_hash). No JOSE of our own.

authlib's Django client would keep the state in the session; Identity never creates a session for an
anonymous browser, so the caller carries what authlib returns in a signed cookie instead, and only
the stateless half of the client is used here."""

from __future__ import annotations

from typing import Any

from authlib.integrations.base_client import OAuthError
from authlib.integrations.django_client import DjangoIntegration, DjangoOAuth2App
from joserfc.errors import JoseError
from requests import RequestException

from .app_settings import app_settings
from .models import Provider


class UpstreamError(Exception):
    """The provider did not answer as OpenID Connect says (unreachable, refused the code, a bad token).
    `step` names where: "discovery", "token" or "id_token"."""

    def __init__(self, step: str, detail: str = ""):
        super().__init__(f"{step}: {detail}")
        self.step = step


def client_for(provider: Provider) -> DjangoOAuth2App:
    """A client for one request: it reads discovery afresh, so a provider's changed endpoints or keys
    apply at once (caching discovery and keys is a later optimisation)."""
    return DjangoOAuth2App(
        DjangoIntegration(provider.slug),
        name=provider.slug,
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        server_metadata_url=provider.discovery_url,
        client_kwargs={
            "scope": provider.scopes,
            "code_challenge_method": "S256",
            "default_timeout": app_settings.FEDERATION_HTTP_TIMEOUT,
        },
    )


def metadata(client: DjangoOAuth2App, provider: Provider) -> dict[str, Any]:
    """The provider's discovery document. Its `issuer` must be the configured one exactly (Discovery
    1.0, section 4.3): otherwise whoever serves that document could name another issuer's endpoints."""
    try:
        found = client.load_server_metadata()
    except (RequestException, ValueError) as error:
        raise UpstreamError("discovery", str(error)) from None
    if found.get("issuer") != provider.issuer:
        raise UpstreamError("discovery", "issuer differs from the configured one")
    return found


def authorization(provider: Provider, redirect_uri: str) -> dict[str, str]:
    """Where to send the browser, and what the callback needs back: url, state, nonce, code_verifier."""
    client = client_for(provider)
    metadata(client, provider)
    return client.create_authorization_url(redirect_uri)


def exchange(
    client: DjangoOAuth2App, provider: Provider, redirect_uri: str, *, code: str, code_verifier: str, nonce: str
) -> dict[str, Any]:
    """Swap the code (with the PKCE verifier) for tokens and return the ID token's validated claims.
    `client` has read discovery (`metadata`)."""
    try:
        token = client.fetch_access_token(redirect_uri, code=code, code_verifier=code_verifier)
    except (OAuthError, RequestException, ValueError) as error:
        raise UpstreamError("token", str(error)) from None
    if "id_token" not in token:
        raise UpstreamError("id_token", "no ID token")
    # authlib checks iss against discovery and aud only through azp: both are pinned here.
    options = {
        "iss": {"essential": True, "value": provider.issuer},
        "aud": {"essential": True, "value": provider.client_id},
    }
    try:
        claims = client.parse_id_token(token, nonce=nonce, claims_options=options, leeway=60)
    except (JoseError, RequestException, ValueError, RuntimeError) as error:
        raise UpstreamError("id_token", str(error)) from None
    return dict(claims)
