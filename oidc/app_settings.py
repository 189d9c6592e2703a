"""The settings only the provider reads, with their defaults, each from the environment variable of
the same name (README's configuration table). Read them as `app_settings.NAME`: a Django setting of
that name wins (a test's override), see identity.env.AppSettings. django-oauth-toolkit's own
configuration (OAUTH2_PROVIDER, with the token lifetimes and scopes) stays in identity/settings.py,
where DOT reads it."""

from __future__ import annotations

from django.conf import settings

from identity.env import AppSettings, env


class OidcSettings(AppSettings):
    # Signing keys: the keyset as JSON in OIDC_SIGNING_KEYS, or a file (generated in development).
    OIDC_SIGNING_KEYS: str = env.str("OIDC_SIGNING_KEYS", "")
    OIDC_KEYS_FILE: str = env.str("OIDC_KEYS_FILE", str(settings.VAR_DIR / "oidc-keys.json"))
    # A factor proved after sign-in (a step-up for acr_values) counts for this many seconds.
    OIDC_STEP_UP_TIMEOUT: int = env.int("OIDC_STEP_UP_TIMEOUT", 600)
    # Refresh tokens rotate on every use and die this long after the first exchange, whatever happens.
    OIDC_REFRESH_TOKEN_ABSOLUTE_LIFETIME: int = env.int("OIDC_REFRESH_TOKEN_ABSOLUTE_LIFETIME", 30 * 24 * 3600)
    OIDC_LOGOUT_TOKEN_LIFETIME: int = 120
    OIDC_BACKCHANNEL_LOGOUT_TIMEOUT: int = env.int("OIDC_BACKCHANNEL_LOGOUT_TIMEOUT", 5)
    OIDC_BACKCHANNEL_LOGOUT_RETRIES: int = env.int("OIDC_BACKCHANNEL_LOGOUT_RETRIES", 8)


app_settings = OidcSettings()
