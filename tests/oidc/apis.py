"""Helpers for the API tests: registering APIs with their scopes, granting them, and naming resource
servers, as an admin would (the models' own validation runs)."""

from __future__ import annotations

from oidc.models import Api, ApiScope, Client
from tests.oidc.relying_party import RelyingParty, register

# The APIs the tests use, and what the consent page says of their scopes.
KNOWN = {
    "mail.read": ("Mail API", "https://mail.example/api", "Read your mail"),
    "mail.send": ("Mail API", "https://mail.example/api", "Send mail as you"),
    "calendar.read": ("Calendar API", "urn:example:calendar", "See your calendar"),
}


def register_api(name: str, identifier: str, scopes: dict[str, str] | None = None, resource_server=None) -> Api:
    api = Api(name=name, identifier=identifier, resource_server=resource_server)
    api.full_clean()
    api.save()
    for value, description in (scopes or {}).items():
        add_scope(api, value, description)
    return api


def add_scope(api: Api, value: str, description: str = "") -> ApiScope:
    scope = ApiScope(api=api, value=value, description=description or value)
    scope.full_clean()
    scope.save()
    return scope


def api_scope(value: str) -> ApiScope:
    """The scope, registered with its API (KNOWN) if it is not yet."""
    found = ApiScope.objects.filter(value=value).first()
    if found is not None:
        return found
    name, identifier, description = KNOWN.get(value, (f"{value} API", f"https://{value}.example/api", value))
    api = Api.objects.filter(identifier=identifier).first() or register_api(name, identifier)
    return add_scope(api, value, description)


def grant(client: Client, *values: str) -> None:
    client.granted_scopes.add(*[api_scope(value) for value in values])


def resource_server(name: str = "Mail API", served_scopes: str = "mail.read") -> RelyingParty:
    """A confidential machine client named as the resource server of the API(s) of these scopes."""
    client, secret = register(name, grant=Client.GRANT_CLIENT_CREDENTIALS)
    for value in served_scopes.split():
        api = api_scope(value).api
        api.resource_server = client
        api.full_clean()
        api.save()
    return RelyingParty(client, secret)
