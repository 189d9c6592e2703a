"""The keys that sign ID tokens, logout tokens and APIs' access tokens, and their rotation.

Keys come from OIDC_SIGNING_KEYS (the keyset as JSON, for deployments that keep secrets in the
environment) or from the file OIDC_KEYS_FILE; in development the file is generated on first use.
A keyset is `{"keys": [{"kty": "RSA"|"EC", "pem": ..., "created": t, "retired": t|null}]}`, an entry
without `kty` being RSA (keysets written before P-256 keys). Each key type signs with one algorithm
(ALGORITHMS: RSA RS256, EC on P-256 ES256), and each app or API names the algorithm its tokens are
signed with; the newest unretired key of that type signs. A rotation makes a new key of every type;
retired keys stay published in the JWKS until every token they signed has expired. The file is
re-read when it changes, so `manage.py rotate_signing_key` takes effect without a restart.

A keyset that is missing (outside development), unreadable or without any active key raises
`KeysetUnavailable`: a system check and the readiness probe report it (`keyset_problem`), and the
endpoints that sign answer 503 instead of failing with a 500. A keyset with an active key of one
type only (an RSA keyset from before ES256) keeps signing for the apps of that type; the system
check warns about the missing type (`missing_algorithms`), apps cannot be set to it, and a token it
would sign is a 503 too.
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

# Each key type and the one algorithm its keys sign with (RFC 8725 §3.1: a key is used with one
# algorithm only, so a verifier never lets a token's header choose).
ALGORITHMS = {"RSA": "RS256", "EC": "ES256"}
KEY_TYPES = {alg: kty for kty, alg in ALGORITHMS.items()}
EC_CURVE = "P-256"  # ES256 is ECDSA on P-256 with SHA-256 (RFC 7518 §3.4)
RSA_SIZE = 2048


class KeysetUnavailable(ImproperlyConfigured):
    """The keyset cannot be used (for an algorithm). `reason` names the setting, never the keys nor the
    file's path (the readiness probe shows it); the full message adds how to fix it."""

    def __init__(self, reason: str, fix: str | None = None):
        self.reason = reason
        self.fix = fix or (
            "Set OIDC_SIGNING_KEYS to a keyset `manage.py rotate_signing_key` prints."
            if app_settings.OIDC_SIGNING_KEYS
            else f"Set OIDC_SIGNING_KEYS, or run `manage.py rotate_signing_key` to create {_keys_file()}."
        )
        super().__init__(f"{reason} {self.fix}")


def missing_key_fix() -> str:
    """What to run when the keyset lacks a key type: a rotation adds one of every type (the other
    type's old key is retired but stays published, so nothing it signed stops verifying)."""
    if app_settings.OIDC_SIGNING_KEYS:
        return (
            "Run `manage.py rotate_signing_key`, set OIDC_SIGNING_KEYS to the keyset it prints on every node, "
            "then restart them."
        )
    return f"Run `manage.py rotate_signing_key`: it adds the missing key to {_keys_file()}."


log = logging.getLogger(__name__)
_cache: keyfiles.Reloading[list[SigningKey]] = keyfiles.Reloading()


@dataclass(frozen=True)
class SigningKey:
    key: jwk.JWK
    kid: str
    created: int
    retired: int | None

    @property
    def alg(self) -> str:
        """The one algorithm this key signs and verifies with."""
        return ALGORITHMS[self.key["kty"]]

    def public_jwk(self) -> dict:
        return {**json.loads(self.key.export_public()), "alg": self.alg, "use": "sig", "kid": self.kid}


def new_key_entry(alg: str) -> dict:
    """A new active key that signs with `alg` (RS256: RSA-2048; ES256: P-256), as stored in a keyset."""
    kty = KEY_TYPES[alg]
    key = jwk.JWK.generate(kty="EC", crv=EC_CURVE) if kty == "EC" else jwk.JWK.generate(kty="RSA", size=RSA_SIZE)
    return {
        "kty": kty,
        "pem": key.export_to_pem(private_key=True, password=None).decode(),
        "created": int(time.time()),
        "retired": None,
    }


def new_keyset() -> dict:
    """A first keyset: one active key of every type."""
    return {"keys": [new_key_entry(alg) for alg in ALGORITHMS.values()]}


def _keys_file() -> Path:
    return Path(app_settings.OIDC_KEYS_FILE)


def read_keyset() -> dict:
    """The keyset as stored (environment first, then the file; generated in development)."""
    return keyfiles.read_keyset(
        app_settings.OIDC_SIGNING_KEYS,
        _keys_file(),
        first=new_keyset,
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
            key = _key_of(entry)
            loaded.append(SigningKey(key, key.thumbprint(), int(entry["created"]), entry.get("retired")))
    return loaded


def _key_of(entry: dict) -> jwk.JWK:
    """The entry's private key, which must be of the type the entry says (RSA if it says none) and, for
    EC, on P-256: anything else is not a valid keyset (ValueError), never a key used with a wrong alg."""
    key = jwk.JWK.from_pem(entry["pem"].encode())
    kty = entry.get("kty", "RSA")
    if kty not in ALGORITHMS or key["kty"] != kty or not key.has_private:
        raise ValueError("key type")
    if kty == "EC" and key["crv"] != EC_CURVE:
        raise ValueError("curve")
    return key


def all_keys() -> list[SigningKey]:
    return _cache.get(app_settings.OIDC_SIGNING_KEYS, _keys_file(), _load)


def retention() -> int:
    """How long a retired key stays published: as long as anything it signed can still be checked."""
    provider = settings.OAUTH2_PROVIDER  # ID tokens, and the JWT access tokens for APIs (oidc.access_tokens)
    lifetimes = (provider["ID_TOKEN_EXPIRE_SECONDS"], provider["ACCESS_TOKEN_EXPIRE_SECONDS"])
    return max(*lifetimes, app_settings.OIDC_LOGOUT_TOKEN_LIFETIME) + 300


def _active() -> list[SigningKey]:
    current = [key for key in all_keys() if key.retired is None]
    if not current:
        raise KeysetUnavailable("The OpenID Connect keyset has no active (unretired) key.")
    return current


def active_key(alg: str) -> SigningKey:
    """The key that signs with `alg` now: the newest unretired one of its type."""
    current = [key for key in _active() if key.alg == alg]
    if not current:
        raise KeysetUnavailable(
            f"The OpenID Connect keyset has no active {alg} ({KEY_TYPES[alg]}) key.", missing_key_fix()
        )
    return max(current, key=lambda key: key.created)


def missing_algorithms() -> list[str]:
    """The algorithms the keyset has no active key for (raises KeysetUnavailable if it has none at all)."""
    present = {key.alg for key in _active()}
    return [alg for alg in ALGORITHMS.values() if alg not in present]


def published_keys() -> list[SigningKey]:
    now = time.time()
    return [key for key in all_keys() if key.retired is None or now - key.retired < retention()]


def key_for(kid: str | None) -> SigningKey | None:
    """The published key with this `kid`; None when there is none, or no keyset to look in (then no
    token can be verified, and an ID token hint counts as naming no one)."""
    try:
        published = published_keys()
    except KeysetUnavailable as problem:
        log.error("cannot verify an ID token: %s", problem)
        return None
    for key in published:
        if key.kid == kid:
            return key
    return None


def made_on_first_use() -> bool:
    """Development without a keys file yet: it is made when first needed, so nothing is wrong."""
    return settings.DEBUG and not app_settings.OIDC_SIGNING_KEYS and not _keys_file().exists()


def keyset_problem() -> KeysetUnavailable | None:
    """Why nothing can be signed, or None. In development a missing file is no problem: it is made on
    first use. A keyset with an active key of one type only is no problem here: it signs for the apps
    of that type (see missing_algorithms)."""
    if made_on_first_use():
        return None
    try:
        _active()
    except KeysetUnavailable as problem:
        return problem
    return None


def rotated(keyset: dict) -> dict:
    """The keyset after a rotation: a new active key of every type (so a keyset from before ES256 gains
    its P-256 key), the old ones retired, long-retired ones dropped."""
    now = int(time.time())
    kept = []
    for entry in keyset.get("keys", []):
        if entry.get("retired") is None:
            entry = {**entry, "retired": now}
        if now - entry["retired"] < retention():
            kept.append(entry)
    return {"keys": [*kept, *new_keyset()["keys"]]}
