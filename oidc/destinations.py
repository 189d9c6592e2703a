"""Names the app an authorization request comes from on the sign-in page (accounts.destinations)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django.urls import reverse

from accounts import destinations

from .models import Client


def app_name(next_url: str) -> str | None:
    """Only for our own authorization endpoint with exactly one client_id of a registered OpenID
    Connect app: its name as registered, never anything taken from the URL itself."""
    parts = urlsplit(next_url)
    if parts.path != reverse("oauth2_provider:authorize"):
        return None
    client_ids = parse_qs(parts.query).get("client_id", [])
    # A NUL byte (a crafted link anyone can send) is no client_id, and PostgreSQL refuses it with an error.
    if len(client_ids) != 1 or not client_ids[0] or "\x00" in client_ids[0]:
        return None
    client = Client.objects.filter(client_id=client_ids[0], protocol=Client.Protocol.OIDC).only("name").first()
    return client.name if client is not None and client.name else None


def register() -> None:
    destinations.add_app_resolver(app_name)
