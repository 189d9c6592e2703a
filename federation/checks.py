"""System checks for federation's settings (STARTUP-tagged, so a web process refuses to start on them:
see identity/checks.py)."""

from __future__ import annotations

from django.core.checks import Error, register

from identity.health import STARTUP

from .crypto import fernet


@register(STARTUP)
def check_secret_key(app_configs=None, **kwargs) -> list[Error]:
    try:
        fernet()
    except ValueError:
        return [
            Error(
                "FEDERATION_SECRET_KEY must be a Fernet key (32 bytes, URL-safe base64).",
                hint="Make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'",
                id="federation.E001",
            )
        ]
    return []
