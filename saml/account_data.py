"""SAML's part of "Download my data" (accounts.account_data): the SAML apps signed on to."""

from __future__ import annotations

from accounts.account_data import add_data_part, when

from .sections import used_apps


def saml_apps(user) -> list[dict]:
    return [
        {"app": item["sp"].app.name or item["sp"].entity_id, "last_signed_on_at": when(item["last"])}
        for item in used_apps(user)
    ]


def register() -> None:
    add_data_part("saml_apps", saml_apps)
