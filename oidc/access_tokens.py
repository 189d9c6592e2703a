"""Access tokens: a JWT (RFC 9068) for a token with an API as its audience, opaque otherwise.

django-oauth-toolkit calls `generate` (OAUTH2_PROVIDER["ACCESS_TOKEN_GENERATOR"]) before it stores
the token, so a JWT is stored like any token (by its SHA-256, the value itself never at rest): revocation,
introspection, ended sessions and refresh-token reuse detection find it as before. Signed with the
provider's current key for the API's algorithm (`Api.algorithm`: ES256, or RS256 for APIs registered
before ES256 and those whose library needs it; oidc.signing), so an API verifies it from the JWKS,
by `kid`, without asking us.
"""

from __future__ import annotations

import time
import uuid

from oauthlib.oauth2.rfc6749.tokens import random_token_generator

from directory.access import roles_for

from . import audience, issuer, signing
from .authorization import ROLES_SCOPE

JWT_ACCESS_TOKEN_TYPE = "at+jwt"  # RFC 9068 §2.1: what tells it apart from an ID token


def generate(request, refresh_token: bool = False) -> str:
    api = audience.token_api(request)
    if api is None:
        return random_token_generator(request)
    return signing.sign(claims_for(api.identifier, request), alg=api.algorithm, typ=JWT_ACCESS_TOKEN_TYPE)


def claims_for(identifier: str, request) -> dict:
    """RFC 9068 §2.2: who (sub: the person's opaque subject, or for a machine its client id), for whom
    (aud, client_id), what (scope, and with the `roles` scope the app's roles the person holds), how
    they signed in."""
    now = int(time.time())
    client = request.client
    user = request.user if getattr(request.user, "is_authenticated", False) else None
    claims = {
        "iss": issuer(),
        "exp": now + int(request.expires_in),
        "iat": now,
        "jti": uuid.uuid4().hex,
        "aud": identifier,
        "sub": str(user.subject) if user else client.client_id,
        "client_id": client.client_id,
        "scope": " ".join(request.scopes),
    }
    if user is not None:
        context = getattr(request, "auth_context", None) or {}
        claims.update({name: context[name] for name in ("auth_time", "acr", "amr") if context.get(name)})
        if ROLES_SCOPE in request.scopes:  # as in the ID token: only when the app asked (and consent said so)
            claims["roles"] = roles_for(user, client)
    return claims
