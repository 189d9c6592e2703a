"""The OIDC provider's part of the security page (accounts.sections): the apps signed in to."""

from __future__ import annotations

from accounts import sections

from .flows import authorised_apps


def security_context(request) -> dict:
    return {"apps": authorised_apps(request.user)}


def register() -> None:
    sections.add_section(sections.SECURITY, sections.Section("oidc/_security_apps.html", security_context, order=10))
