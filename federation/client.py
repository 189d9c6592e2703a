"""The protocol calls to an upstream provider, all through authlib (its Django client): discovery, the
authorization URL with state, nonce and PKCE S256, the code exchange, and the ID token's validation
(signature against the provider's JWKS, iss, aud, exp, nonce, at_hash). No JOSE of our own. Each
kind's own rules (Google's two issuers, Entra's tenants and unverified addresses) are presets.py's;
GitHub, which has no OpenID Connect, is github.py's.

authlib's Django client would keep the state in the session; Identity never creates a session for an
anonymous browser, so the caller carries what authlib returns in a signed cookie instead, and only
the stateless half of the client is used here. Discovery and keys come from the cache (metadata.py)."""

from __future__ import annotations

from typing import Any

from authlib.integrations.base_client import OAuthError
from authlib.integrations.django_client import DjangoIntegration, DjangoOAuth2App
from joserfc.errors import JoseError
from requests import RequestException

from . import github, presets
from . import metadata as cache
from .app_settings import app_settings
from .errors import UpstreamError
from .models import Provider

__all__ = ["UpstreamError", "authorization", "client_for", "exchange", "metadata", "validated_claims"]


class _App(DjangoOAuth2App):
    """authlib's client, with the provider's discovery document and keys read through the cache."""

    def __init__(self, provider: Provider, **kwargs: Any):
        super().__init__(DjangoIntegration(provider.slug), name=provider.slug, **kwargs)
        self.provider = provider

    def load_server_metadata(self) -> dict[str, Any]:
        if "_loaded_at" not in self.server_metadata:
            url = self.provider.discovery_url
            self.server_metadata.update(cache.cached(self.provider, cache.DISCOVERY, url, self._fetch_discovery))
            self.server_metadata["_loaded_at"] = True
        return self.server_metadata

    def _fetch_discovery(self) -> dict[str, Any]:
        """Read afresh. Its `issuer` must be the configured one exactly (Discovery 1.0, section 4.3; for
        Entra's many tenants, the template presets.py names): otherwise whoever serves that document
        could name another issuer's endpoints. A bad one is not cached."""
        try:
            found = super().load_server_metadata()
        except (RequestException, ValueError) as error:
            raise UpstreamError("discovery", str(error)) from None
        self.server_metadata.pop("_loaded_at", None)
        document = {name: value for name, value in found.items() if name not in ("_loaded_at", "jwks")}
        if document.get("issuer") != presets.discovery_issuer(self.provider):
            raise UpstreamError("discovery", "issuer differs from the configured one")
        if not isinstance(document.get("jwks_uri"), str):
            raise UpstreamError("discovery", "no jwks_uri")
        return document

    def fetch_jwk_set(self, force: bool = False) -> dict[str, Any]:
        """The cached keys; `force` (authlib asks when a token names a key they lack: a rotation) fetches
        them again, at most once per FEDERATION_JWKS_REFETCH_INTERVAL."""
        uri = self.load_server_metadata()["jwks_uri"]
        if force and cache.may_refetch_keys(self.provider):
            keys = self._fetch_keys()
            cache.keep(self.provider, cache.JWKS, uri, keys)
            return keys
        return cache.cached(self.provider, cache.JWKS, uri, self._fetch_keys)

    def _fetch_keys(self) -> dict[str, Any]:
        try:
            return super().fetch_jwk_set(force=True)
        except (RequestException, ValueError) as error:
            raise UpstreamError("id_token", f"keys: {error}") from None


def client_for(provider: Provider) -> DjangoOAuth2App:
    return _App(
        provider,
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
    """The provider's discovery document (checked, see `_App._fetch_discovery`)."""
    return client.load_server_metadata()


def authorization(provider: Provider, redirect_uri: str, **params: Any) -> dict[str, str]:
    """Where to send the browser, and what the callback needs back: url, state, nonce, code_verifier
    (GitHub's nonce is "": it has no ID token to carry one). `params` go into the URL (prompt, ...)."""
    if not presets.preset_for(provider.kind).openid:
        return github.authorization(provider, redirect_uri, **params)
    client = client_for(provider)
    metadata(client, provider)
    return client.create_authorization_url(redirect_uri, **params)


def validated_claims(
    provider: Provider, redirect_uri: str, *, code: str, code_verifier: str, nonce: str, response_iss: str | None
) -> dict[str, Any]:
    """The person the provider vouches for, once the response and its tokens passed every check: a dict
    with iss, sub, email and email_verified (and amr, acr, auth_time when sent). `response_iss` is the
    authorization response's `iss` parameter."""
    if not presets.preset_for(provider.kind).openid:
        return github.validated_claims(provider, redirect_uri, code=code, code_verifier=code_verifier)
    client = client_for(provider)
    found = metadata(client, provider)
    # RFC 9207: a response's `iss` names who sent it, so a response from another provider (a mix-up
    # attack) is caught before its code goes to this one's token endpoint.
    if response_iss is not None and not presets.response_issuer_ok(provider, response_iss):
        raise UpstreamError("issuer", response_iss)
    if response_iss is None and found.get("authorization_response_iss_parameter_supported"):
        raise UpstreamError("issuer", "missing")
    return exchange(client, provider, redirect_uri, code=code, code_verifier=code_verifier, nonce=nonce)


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
    try:
        claims = client.parse_id_token(token, nonce=nonce, claims_options=presets.claims_options(provider), leeway=60)
    except (JoseError, RequestException, ValueError, RuntimeError) as error:
        raise UpstreamError("id_token", str(error)) from None
    return presets.vouched(provider, dict(claims or {}))
