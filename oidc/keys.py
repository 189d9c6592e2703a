"""The RSA keys that sign ID tokens, logout tokens and APIs' access tokens, and their rotation.

Keys come from OIDC_SIGNING_KEYS (the keyset as JSON, for deployments that keep secrets in the
environment) or from the file OIDC_KEYS_FILE; in development the file is generated on first use.
A keyset is `{"keys": [{"pem": ..., "created": t, "retired": t|null}]}`: the newest unretired key
signs, retired keys stay published in the JWKS until every token they signed has expired. The file
is re-read when it changes, so `manage.py rotate_signing_key` takes effect without a restart.

A keyset that is missing (outside development), unreadable or without an active key raises
`KeysetUnavailable`: a system check and the readiness probe report it (`keyset_problem`), and the
endpoints that sign answer 503 instead of failing with a 500.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from jwcrypto import jwk

from identity import keyfiles

from .app_settings import app_settings


class KeysetUnavailable(ImproperlyConfigured):
    """The keyset cannot be used. `reason` names the setting, never the keys nor the file's path (the
    readiness probe shows it); the full message adds how to fix it."""

    def __init__(self, reason: str):
        self.reason = reason
        self.fix = (
            "Set OIDC_SIGNING_KEYS to a keyset `manage.py rotate_signing_key` prints."
            if app_settings.OIDC_SIGNING_KEYS
            else f"Set OIDC_SIGNING_KEYS, or run `manage.py rotate_signing_key` to create {_keys_file()}."
        )
        super().__init__(f"{reason} {self.fix}")


log = logging.getLogger(__name__)
_cache: keyfiles.Reloading[list[SigningKey]] = keyfiles.Reloading()


@dataclass(frozen=True)
class SigningKey:
    key: jwk.JWK
    kid: str
    created: int
    retired: int | None

    def public_jwk(self) -> dict:
        return {**json.loads(self.key.export_public()), "alg": "RS256", "use": "sig", "kid": self.kid}


def new_key_entry() -> dict:
    key = jwk.JWK.generate(kty="RSA", size=2048)
    return {
        "pem": key.export_to_pem(private_key=True, password=None).decode(),
        "created": int(time.time()),
        "retired": None,
    }


def _keys_file() -> Path:
    return Path(app_settings.OIDC_KEYS_FILE)


def read_keyset() -> dict:
    """The keyset as stored (environment first, then the file; generated in development)."""
    return keyfiles.read_keyset(
        app_settings.OIDC_SIGNING_KEYS,
        _keys_file(),
        first=lambda: {"keys": [new_key_entry()]},
        missing=lambda: KeysetUnavailable(
            "No OpenID Connect signing key: OIDC_SIGNING_KEYS is empty and OIDC_KEYS_FILE does not exist."
        ),
    )


def write_keyset(keyset: dict) -> None:
    """Replace the keys file atomically, readable by its owner only."""
    keyfiles.write_keyset(_keys_file(), keyset)


def _load() -> list[SigningKey]:
    source = "OIDC_SIGNING_KEYS" if app_settings.OIDC_SIGNING_KEYS else "OIDC_KEYS_FILE"
    loaded = []
    with keyfiles.explained(lambda problem: KeysetUnavailable(f"The OpenID Connect keyset ({source}) {problem}")):
        for entry in read_keyset()["keys"]:
            key = jwk.JWK.from_pem(entry["pem"].encode())
            loaded.append(SigningKey(key, key.thumbprint(), int(entry["created"]), entry.get("retired")))
    return loaded


def all_keys() -> list[SigningKey]:
    return _cache.get(app_settings.OIDC_SIGNING_KEYS, _keys_file(), _load)


def retention() -> int:
    """How long a retired key stays published: as long as anything it signed can still be checked."""
    provider = settings.OAUTH2_PROVIDER  # ID tokens, and the JWT access tokens for APIs (oidc.access_tokens)
    lifetimes = (provider["ID_TOKEN_EXPIRE_SECONDS"], provider["ACCESS_TOKEN_EXPIRE_SECONDS"])
    return max(*lifetimes, app_settings.OIDC_LOGOUT_TOKEN_LIFETIME) + 300


def active_key() -> SigningKey:
    current = [key for key in all_keys() if key.retired is None]
    if not current:
        raise KeysetUnavailable("The OpenID Connect keyset has no active (unretired) key.")
    return max(current, key=lambda key: key.created)


def signing_key() -> jwk.JWK:
    return active_key().key


def published_keys() -> list[SigningKey]:
    now = time.time()
    return [key for key in all_keys() if key.retired is None or now - key.retired < retention()]


def key_for(kid: str | None) -> jwk.JWK | None:
    """The published key with this `kid`; None when there is none, or no keyset to look in (then no
    token can be verified, and an ID token hint counts as naming no one)."""
    try:
        published = published_keys()
    except KeysetUnavailable as problem:
        log.error("cannot verify an ID token: %s", problem)
        return None
    for key in published:
        if key.kid == kid:
            return key.key
    return None


def keyset_problem() -> KeysetUnavailable | None:
    """Why nothing can be signed, or None. In development a missing file is no problem: it is made on
    first use."""
    if settings.DEBUG and not app_settings.OIDC_SIGNING_KEYS and not _keys_file().exists():
        return None
    try:
        active_key()
    except KeysetUnavailable as problem:
        return problem
    return None


def rotated(keyset: dict) -> dict:
    """The keyset after a rotation: a new active key, the old ones retired, long-retired ones dropped."""
    now = int(time.time())
    kept = []
    for entry in keyset.get("keys", []):
        if entry.get("retired") is None:
            entry = {**entry, "retired": now}
        if now - entry["retired"] < retention():
            kept.append(entry)
    return {"keys": [*kept, new_key_entry()]}
