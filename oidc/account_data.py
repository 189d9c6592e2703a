"""The OIDC provider's part of "Download my data" (accounts.account_data): the apps let in, when and
with which scopes; no token or code."""

from __future__ import annotations

from accounts.account_data import add_data_part, when

from .models import Consent, TokenFamily


def apps(user) -> list[dict]:
    consents = {consent.client_id: consent for consent in Consent.objects.filter(user=user).select_related("client")}
    families = TokenFamily.objects.filter(user=user).select_related("client").order_by("created_at")
    seen: dict[int, dict] = {}
    for family in families:
        row = seen.setdefault(family.client_id, {"app": family.client.name, "first_token_at": when(family.created_at)})
        row["last_token_at"] = when(family.created_at)
        row["has_live_tokens"] = row.get("has_live_tokens", False) or family.revoked_at is None
    for client_id, consent in consents.items():
        row = seen.setdefault(client_id, {"app": consent.client.name})
        row.update(consented_at=when(consent.granted_at), scopes=consent.scopes.split())
    return sorted(seen.values(), key=lambda row: row["app"])


def register() -> None:
    add_data_part("oidc_apps", apps)
