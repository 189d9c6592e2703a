"""federation's part of "Download my data" (accounts.account_data): the linked sign-in providers."""

from __future__ import annotations

from accounts.account_data import add_data_part, when

from .models import UpstreamLink


def sign_in_providers(user) -> list[dict]:
    return [
        {
            "provider": link.provider.name,
            "address_there": link.email,
            "linked_at": when(link.created_at),
            "last_used_at": when(link.last_used_at),
        }
        for link in UpstreamLink.objects.filter(user=user).select_related("provider").order_by("created_at")
    ]


def register() -> None:
    add_data_part("sign_in_providers", sign_in_providers)
