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
    # How far our clock and an SP's may disagree (IssueInstant, NotBefore, NotOnOrAfter).
    SAML_CLOCK_SKEW: int = env.int("SAML_CLOCK_SKEW", 120)
    # An AuthnRequest or LogoutRequest older than this is refused; its ID is remembered this long (plus
    # twice the skew) so it is accepted once.
    SAML_REQUEST_LIFETIME: int = env.int("SAML_REQUEST_LIFETIME", 300)
    # How long the assertions we issue are valid (NotOnOrAfter) for the SP to consume them.
    SAML_ASSERTION_LIFETIME: int = env.int("SAML_ASSERTION_LIFETIME", 300)
    # How long a person may take to sign in (password, second factor, step-up) and still be answered.
    SAML_SIGN_ON_WINDOW: int = 30 * 60
    SAML_MAX_REQUEST_BYTES: int = 64 * 1024  # a request, encoded and inflated
    SAML_MAX_RELAY_STATE: int = 1024  # the spec says 80 bytes; real SPs send URLs
    SAML_LOGOUT_TIMEOUT: int = env.int("SAML_LOGOUT_TIMEOUT", 5)  # seconds, for a SOAP logout request
    SAML_LOGOUT_RETRIES: int = env.int("SAML_LOGOUT_RETRIES", 8)
    # Sign-ons (who signed in to which SP, in which session) are forgotten after this many seconds.
    SAML_SIGN_ON_RETENTION: int = env.int("SAML_SIGN_ON_RETENTION", 90 * 24 * 3600)


app_settings = SamlSettings()
