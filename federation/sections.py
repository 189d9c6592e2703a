"""federation's parts of the account pages (accounts.sections): a button per enabled provider on the
sign-in and sign-up pages, the account's links on the security page, and "Confirm with <provider>" on
the re-authentication page."""

from __future__ import annotations

from accounts import sections

from .linking import confirmable_providers, linkable_providers, links_of
from .models import Provider


def buttons_context(request) -> dict:
    return {"federation_providers": list(Provider.objects.filter(enabled=True).only("slug", "name"))}


def security_context(request) -> dict:
    return {"upstream_links": links_of(request.user), "linkable_providers": linkable_providers(request.user)}


def reauthenticate_context(request) -> dict:
    return {"confirm_providers": confirmable_providers(request.user)}


def register() -> None:
    section = sections.Section("federation/_buttons.html", buttons_context)
    sections.add_section(sections.SIGNIN, section)
    sections.add_section(sections.SIGNUP, section)
    sections.add_section(
        sections.SECURITY, sections.Section("federation/_security_links.html", security_context, order=15)
    )
    sections.add_section(
        sections.REAUTHENTICATE, sections.Section("federation/_reauthenticate.html", reauthenticate_context)
    )
