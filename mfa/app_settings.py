"""The settings only mfa reads, with their defaults, each from the environment variable of the same
name (README's configuration table). Read them as `app_settings.NAME`: a Django setting of that name
wins (a test's override), see identity.env.AppSettings."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

from identity.env import AppSettings, env


class MfaSettings(AppSettings):
    # django-otp doubles its pause per device after each failure; capped, so an attacker cannot pause
    # the owner's app for days.
    MFA_TOTP_MAX_BACKOFF: int = env.int("MFA_TOTP_MAX_BACKOFF", 15 * 60)

    # WebAuthn relying party: from SITE_URL unless set, never from the request's Host header.
    WEBAUTHN_RP_ID: str = env.str("WEBAUTHN_RP_ID", "") or (urlsplit(settings.SITE_URL).hostname or "localhost")
    WEBAUTHN_RP_NAME: str = env.str("WEBAUTHN_RP_NAME", settings.SITE_NAME)
    WEBAUTHN_ORIGINS: list[str] = env.list("WEBAUTHN_ORIGINS", default=[]) or [settings.SITE_URL]
    WEBAUTHN_CHALLENGE_TIMEOUT: int = env.int("WEBAUTHN_CHALLENGE_TIMEOUT", 120)


app_settings = MfaSettings()
