"""Client secrets are long random strings, so they need no slow hash: a keyed SHA-256 is as safe as
argon2 for them and keeps the token endpoint from being CPU-bound. The key is derived from SECRET_KEY
(with SECRET_KEY_FALLBACKS honoured), so a stolen table alone cannot even test a guess."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.hashers import BasePasswordHasher
from django.utils.crypto import constant_time_compare, salted_hmac

SALT = "identity.oidc.client-secret"


class ClientSecretHasher(BasePasswordHasher):
    algorithm = "client-secret-hmac"

    def salt(self) -> str:
        return ""

    def _digest(self, secret: str, key: str) -> str:
        return salted_hmac(SALT, secret, secret=key, algorithm="sha256").hexdigest()

    def encode(self, password: str, salt: str) -> str:
        return f"{self.algorithm}${self._digest(password, settings.SECRET_KEY)}"

    def verify(self, password: str, encoded: str) -> bool:
        algorithm, _, digest = encoded.partition("$")
        if algorithm != self.algorithm:
            return False
        keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
        return any(constant_time_compare(self._digest(password, key), digest) for key in keys)

    def decode(self, encoded: str) -> dict:
        algorithm, _, digest = encoded.partition("$")
        return {"algorithm": algorithm, "hash": digest, "salt": ""}

    def safe_summary(self, encoded: str) -> dict:
        return {"algorithm": self.algorithm, "hash": "********"}

    def must_update(self, encoded: str) -> bool:
        return False

    def harden_runtime(self, password: str, encoded: str) -> None:
        pass
