"""Every JWT Identity signs and every one it reads back: ID tokens, logout tokens and APIs' access
tokens are made by `sign`, ID token hints are checked with the key `verification_key` finds.

Each token names its key (`kid`) and its algorithm, and a key is used with one algorithm only
(oidc.keys.ALGORITHMS): an app or API chooses RS256 or ES256, the keyset holds a key for each, and
a verifier takes the key by `kid` from the JWKS. JOSE is jwcrypto's; nothing here is hand-written.
"""

from __future__ import annotations

import json

from jwcrypto import jws, jwt

from . import keys

ALGORITHMS = tuple(keys.ALGORITHMS.values())  # what apps and APIs may choose, and discovery lists


def sign(claims: dict, *, alg: str, typ: str) -> str:
    """`claims` as a compact JWS, signed with the active key for `alg` ("RS256" or "ES256"), its
    header `{"alg", "typ", "kid"}`: `typ` "JWT" for an ID token, "logout+jwt" for a logout token,
    "at+jwt" for an access token. Values JSON cannot hold (a UUID) are written as strings, as
    django-oauth-toolkit does. Raises keys.KeysetUnavailable when the keyset has no active key for
    `alg` (the token endpoint answers 503; nothing was stored yet)."""
    key = keys.active_key(alg)
    token = jwt.JWT(header={"alg": alg, "typ": typ, "kid": key.kid}, claims=json.dumps(claims, default=str))
    token.make_signed_token(key.key)
    return token.serialize()


def verification_key(token: str) -> keys.SigningKey | None:
    """The published key that may verify `token`: the one its header's `kid` names, and only if the
    header's `alg` is the one that key signs with. So no header chooses how it is checked (RFC 8725
    §2.1, §3.1): not `none`, not HS256 with a public key as the secret, not ES256 against an RSA key,
    not RS384 for an RS256 key. None when no key qualifies or the token is not a compact JWS (whose
    header is all protected)."""
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    try:
        unverified = jws.JWS()
        unverified.deserialize(token)
    except (jws.InvalidJWSObject, ValueError, TypeError):
        return None
    header = unverified.jose_header
    key = keys.key_for(header.get("kid"))
    if key is None or header.get("alg") != key.alg:
        return None
    return key
