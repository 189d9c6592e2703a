"""GitHub: OAuth 2.0 without OpenID Connect (no discovery, no ID token), through authlib's OAuth 2.0
client: the authorization URL with state and PKCE S256, the code exchange, then GitHub's REST API.

The provider's issuer field holds GitHub's address: https://github.com, or a GitHub Enterprise Server's
(its API is then under /api/v3; github.com's is https://api.github.com). The person is:
- `iss`: that address; `sub`: GitHub's numeric user id, never the login, which its owner can rename
  and someone else can then take;
- `email`: only the address /user/emails marks both primary and verified. The profile's public `email`
  (/user) is whatever its owner typed, verified or not, so it is never read. No such address: no
  `email`, `email_verified` false, so no account is made or matched from it (a link still signs in).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from authlib.integrations.base_client import OAuthError
from authlib.integrations.django_client import DjangoIntegration, DjangoOAuth2App
from requests import RequestException

from .app_settings import app_settings
from .errors import UpstreamError
from .models import Provider

GITHUB_COM_API = "https://api.github.com"
_API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


def base(provider: Provider) -> str:
    return provider.issuer.rstrip("/")


def api_base(provider: Provider) -> str:
    if urlsplit(provider.issuer).hostname == "github.com":
        return GITHUB_COM_API
    return base(provider) + "/api/v3"


def client_for(provider: Provider) -> DjangoOAuth2App:
    return DjangoOAuth2App(
        DjangoIntegration(provider.slug),
        name=provider.slug,
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        authorize_url=base(provider) + "/login/oauth/authorize",
        access_token_url=base(provider) + "/login/oauth/access_token",
        api_base_url=api_base(provider) + "/",
        client_kwargs={
            "scope": provider.scopes,
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "client_secret_post",  # as GitHub's documentation shows it
            "default_timeout": app_settings.FEDERATION_HTTP_TIMEOUT,
        },
    )


def authorization(provider: Provider, redirect_uri: str, **params: Any) -> dict[str, str]:
    started = client_for(provider).create_authorization_url(redirect_uri, **params)
    return {**started, "nonce": ""}  # no ID token, so no nonce: state and PKCE guard the round trip


def validated_claims(provider: Provider, redirect_uri: str, *, code: str, code_verifier: str) -> dict[str, Any]:
    client = client_for(provider)
    try:
        token = client.fetch_access_token(redirect_uri, code=code, code_verifier=code_verifier)
    except (OAuthError, RequestException, ValueError) as error:
        raise UpstreamError("token", str(error)) from None
    if not token.get("access_token"):
        raise UpstreamError("token", "no access token")
    user = _api(client, token, "user")
    emails = _api(client, token, "user/emails")
    subject = user.get("id") if isinstance(user, dict) else None
    if not isinstance(subject, int) or isinstance(subject, bool) or subject <= 0 or not isinstance(emails, list):
        raise UpstreamError("userinfo", "no user id or address list")
    claims: dict[str, Any] = {"iss": base(provider), "sub": str(subject), "email_verified": False}
    primary = [
        entry["email"]
        for entry in emails
        if isinstance(entry, dict)
        and entry.get("primary") is True
        and entry.get("verified") is True
        and isinstance(entry.get("email"), str)
    ]
    if len(primary) == 1:
        claims.update(email=primary[0], email_verified=True)
    return claims


def _api(client: DjangoOAuth2App, token: dict[str, Any], path: str) -> Any:
    try:
        answer = client.get(path, token=token, headers=_API_HEADERS)
        answer.raise_for_status()
        return answer.json()
    except (OAuthError, RequestException, ValueError) as error:
        raise UpstreamError("userinfo", f"{path}: {error}") from None
