"""System checks for accounts' settings (STARTUP-tagged, so a web process refuses to start on them:
see identity/checks.py)."""

from __future__ import annotations

from django.core.checks import Error, register

from identity.health import STARTUP

from .app_settings import app_settings

MFA_POLICIES = ("off", "staff", "all")


@register(STARTUP)
def check_mfa_required(app_configs=None, **kwargs) -> list[Error]:
    if app_settings.MFA_REQUIRED in MFA_POLICIES:
        return []
    return [
        Error(
            f"MFA_REQUIRED must be off, staff or all, not {app_settings.MFA_REQUIRED!r}.",
            hint="off: only those who set up a second factor use one; staff: staff members must; all: everyone must.",
            id="accounts.E001",
        )
    ]
