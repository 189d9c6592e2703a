"""Names the SAML app a parked sign-on request waits for on the sign-in page (accounts.destinations)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django.urls import reverse

from accounts import destinations

from .models import ServiceProvider


def app_name(next_url: str) -> str | None:
    """Only for our own sign-on URL carrying a request we signed (Parked): the app's registered name."""
    parts = urlsplit(next_url)
    if parts.path != reverse("saml:sign-on"):
        return None
    tokens = parse_qs(parts.query).get("request", [])
    if len(tokens) != 1:
        return None
    # Here, not at the top: saml.flows loads pysaml2's schemas (about a second), which only a SAML
    # request should pay, not every process start (tests/saml/test_library_hooks.py).
    from .flows import Parked, Refused

    try:
        parked = Parked.from_token(tokens[0])
    except Refused:
        return None
    sp = ServiceProvider.objects.select_related("app").filter(pk=parked.sp).first()
    return (sp.app.name or None) if sp is not None else None


def register() -> None:
    destinations.add_app_resolver(app_name)
