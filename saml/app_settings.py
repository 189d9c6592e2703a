"""The settings only the SAML identity provider reads, with their defaults, each from the environment
variable of the same name (README's configuration table). Read them as `app_settings.NAME`: a Django
setting of that name wins (a test's override), see identity.env.AppSettings."""

from __future__ import annotations

from django.conf import settings

from identity.env import AppSettings, env


class SamlSettings(AppSettings):
    # The IdP's signing keys and certificates: the keyset as JSON in SAML_SIGNING_KEYS, or a file
    # (generated in development); `manage.py rotate_saml_certificate` stages and activates new ones.
    SAML_SIGNING_KEYS: str = env.str("SAML_SIGNING_KEYS", "")
    SAML_KEYS_FILE: str = env.str("SAML_KEYS_FILE", str(settings.VAR_DIR / "saml-keys.json"))
    # A retired certificate stays in the metadata this long (for SPs still checking what it signed),
    # then the next rotation drops it.
    SAML_CERT_RETENTION: int = env.int("SAML_CERT_RETENTION", 24 * 3600)


app_settings = SamlSettings()
