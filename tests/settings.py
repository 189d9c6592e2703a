"""Test settings: the production settings, pointed at the test services.

PostgreSQL and Redis are real; Redis uses its own database numbers so tests never touch development data.
"""

import os
from copy import deepcopy

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/identity")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("SITE_URL", "http://testserver")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
# No internet here: the breached-password tests turn the check on against a local range server.
os.environ.setdefault("PASSWORD_BREACH_CHECK", "off")

from identity.settings import *  # noqa: E402,F403

SECURE_SSL_REDIRECT = False
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
WHITENOISE_USE_FINDERS = True
# ... looked up when asked for (as in development), not all listed and stat'ed whenever the middleware is
# built: every test Client builds it anew, and the listing took 10 ms (over 2,500 Clients in
# tests/identity/test_anonymous_redis.py alone).
WHITENOISE_AUTOREFRESH = True
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Argon2id at its cheapest (argon2's floor is 8 KiB per lane): the tests hash and check passwords thousands
# of times, and at the production cost (OWASP's floor, accounts/app_settings.py) that took 25-50 ms each,
# minutes of a CI run. Every hash is still Argon2id, made and checked by the real hasher (and by the
# servers the tests start, whose settings import these). The tests that look at the cost itself (the
# parameters a hash is stored with, the timing of unknown addresses) put the production cost back with
# the `production_argon2` fixture (tests/conftest.py).
ARGON2_MEMORY_COST_KIB = 8
ARGON2_TIME_COST = 1
ARGON2_PARALLELISM = 1
STATIC_ROOT = None  # type: ignore[assignment]  # found through the finders instead
# aiosmtpd, the tests' SMTP sink, logs every connection at INFO from its own thread, also while pytest is
# taking down the test that started it ("--- Logging error ---" in the output): its warnings suffice.
LOGGING = deepcopy(LOGGING)  # noqa: F405
LOGGING["loggers"]["mail.log"] = {"level": "WARNING"}  # type: ignore[index]  # a dict of dicts

# One signing keyset for the whole test run (and any server process the tests start), with an active
# key of every type: one left from before ES256 (RSA only) gains its P-256 key.
OIDC_KEYS_FILE = os.environ.setdefault("OIDC_KEYS_FILE", str(BASE_DIR / "var" / "test-oidc-keys.json"))  # noqa: F405


def _complete_test_keyset(path: str) -> None:
    import json

    keyset = json.loads(open(path).read()) if os.path.exists(path) else {"keys": []}
    present = {entry.get("kty", "RSA") for entry in keyset["keys"] if entry.get("retired") is None}
    if not {"RSA", "EC"} <= present or any("kty" not in entry for entry in keyset["keys"]):
        # Only now: oidc.keys reads settings, which a server process the tests start is still importing.
        from oidc.keys import ALGORITHMS, new_key_entry

        keyset["keys"] = [{"kty": "RSA", **entry} for entry in keyset["keys"]]  # as they were read: RSA
        keyset["keys"] += [new_key_entry(alg) for kty, alg in ALGORITHMS.items() if kty not in present]
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(f"{path}.{os.getpid()}.tmp", "w") as handle:
            json.dump(keyset, handle)
        os.replace(f"{path}.{os.getpid()}.tmp", path)


_complete_test_keyset(OIDC_KEYS_FILE)

# The same for the SAML identity provider's signing certificate (one, active).
SAML_KEYS_FILE = os.environ.setdefault("SAML_KEYS_FILE", str(BASE_DIR / "var" / "test-saml-keys.json"))  # noqa: F405
if not os.path.exists(SAML_KEYS_FILE):
    import json as _json

    from saml.keys import first_keyset as _first_saml_keyset

    os.makedirs(os.path.dirname(SAML_KEYS_FILE), exist_ok=True)
    with open(SAML_KEYS_FILE + ".tmp", "w") as _handle:
        _json.dump(_first_saml_keyset(), _handle)
    os.replace(SAML_KEYS_FILE + ".tmp", SAML_KEYS_FILE)
