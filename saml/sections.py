"""SAML's part of the security page (accounts.sections): the SAML apps the person signed in to."""

from __future__ import annotations

from accounts import sections

from .flows import used_apps


def security_context(request) -> dict:
    return {"saml_apps": used_apps(request.user)}


def register() -> None:
    sections.add_section(sections.SECURITY, sections.Section("saml/_security_apps.html", security_context, order=11))
