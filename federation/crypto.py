"""Client secrets at rest: encrypted with Fernet (AES-128-CBC and HMAC-SHA256, from `cryptography`),
so a database dump or a read-only replica does not hand out the credentials of every provider.

The key is FEDERATION_SECRET_KEY, or, when unset, one derived from DJANGO_SECRET_KEY with HKDF under a
label of its own (never the secret key itself, which also signs sessions and links)."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from .app_settings import app_settings

_LABEL = b"identity federation client secrets"


def fernet() -> Fernet:
    """The cipher for the configured key. Raises ValueError for a key that is not a Fernet key."""
    key = app_settings.FEDERATION_SECRET_KEY
    if key:
        return Fernet(key.encode())
    derived = HKDF(algorithm=SHA256(), length=32, salt=None, info=_LABEL).derive(settings.SECRET_KEY.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(secret: str) -> str:
    return fernet().encrypt(secret.encode()).decode() if secret else ""


def unseal(sealed: str) -> str:
    """The stored secret in clear, or "" when there is none or the key changed (the token exchange then
    fails and the admin enters the secret again; nothing half-decrypted is ever sent)."""
    if not sealed:
        return ""
    try:
        return fernet().decrypt(sealed.encode()).decode()
    except InvalidToken:
        return ""
