"""SAML's part of the security page (accounts.sections): the SAML apps the person signed in to."""

from __future__ import annotations

from accounts import sections

from .flows import used_apps


def security_context(request) -> dict:
    """Rows for the security page's list of apps (oidc's section shows them): name and last sign-in."""
    apps = used_apps(request.user)
    return {
        "signed_on_apps": [{"name": item["sp"].app.name or item["sp"].entity_id, "last": item["last"]} for item in apps]
    }


def register() -> None:
    sections.add_section(sections.SECURITY, sections.Section("", security_context, order=9))
