"""federation's parts of the account pages (accounts.sections): a button per enabled provider on the
sign-in and sign-up pages."""

from __future__ import annotations

from accounts import sections

from .models import Provider


def buttons_context(request) -> dict:
    return {"federation_providers": list(Provider.objects.filter(enabled=True).only("slug", "name"))}


def register() -> None:
    section = sections.Section("federation/_buttons.html", buttons_context)
    sections.add_section(sections.SIGNIN, section)
    sections.add_section(sections.SIGNUP, section)
