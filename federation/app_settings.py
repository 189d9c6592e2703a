"""The settings only federation reads, with their defaults, each from the environment variable of the
same name (README's configuration table). Read them as `app_settings.NAME`: a Django setting of that
name wins (a test's override), see identity.env.AppSettings. federation.E001 checks the key."""

from __future__ import annotations

from identity.env import AppSettings, env


class FederationSettings(AppSettings):
    # The Fernet key (Fernet.generate_key()) that encrypts the providers' client secrets in the
    # database. Unset: derived from DJANGO_SECRET_KEY (HKDF-SHA256), so a development site works at
    # once; production should set it, since rotating DJANGO_SECRET_KEY would otherwise make every stored
    # client secret unreadable (they must then be entered again in admin).
    FEDERATION_SECRET_KEY: str = env.str("FEDERATION_SECRET_KEY", "")
    # Seconds a browser may take at the provider: the state, nonce and PKCE verifier live this long.
    FEDERATION_STATE_TIMEOUT: int = env.int("FEDERATION_STATE_TIMEOUT", 600)
    # Seconds each call to a provider (discovery, keys, token) may take before the sign-in is refused.
    FEDERATION_HTTP_TIMEOUT: float = env.float("FEDERATION_HTTP_TIMEOUT", 5.0)
    # Seconds a provider's discovery document and keys are kept in the cache (metadata.py); saving the
    # provider forgets them at once.
    FEDERATION_METADATA_TTL: int = env.int("FEDERATION_METADATA_TTL", 3600)
    # An ID token naming a key the cached set lacks fetches the keys again (a rotation), at most once
    # per this many seconds per provider.
    FEDERATION_JWKS_REFETCH_INTERVAL: int = env.int("FEDERATION_JWKS_REFETCH_INTERVAL", 60)


app_settings = FederationSettings()
