"""SAML's part of the security page (accounts.sections): the SAML apps the person signed in to."""

from __future__ import annotations

from django.db.models import Max

from accounts import sections

from .models import ServiceProvider, SignOn


def used_apps(user) -> list[dict]:
    """The SAML apps this person signed in to, the latest first (the security page)."""
    last = dict(
        SignOn.objects.filter(user=user).values_list("service_provider").annotate(last=Max("signed_on_at")).order_by()
    )
    providers = ServiceProvider.objects.filter(pk__in=last).select_related("app")
    return sorted(({"sp": sp, "last": last[sp.pk]} for sp in providers), key=lambda item: item["last"], reverse=True)


def security_context(request) -> dict:
    """Rows for the security page's list of apps (oidc's section shows them): name and last sign-in."""
    apps = used_apps(request.user)
    return {
        "signed_on_apps": [{"name": item["sp"].app.name or item["sp"].entity_id, "last": item["last"]} for item in apps]
    }


def register() -> None:
    sections.add_section(sections.SECURITY, sections.Section("", security_context, order=9))
