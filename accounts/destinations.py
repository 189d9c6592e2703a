"""The app a sign-in continues to, so the sign-in page can name it ("Sign in to continue to Acme").

Protocol apps know which of their own URLs stand for an app waiting for a sign-in (oidc: its
authorization endpoint with a registered client_id; saml: a signed, parked sign-on request) and register
a resolver in their AppConfig.ready(), so accounts never imports them. A resolver is handed only a `next`
that `safe_next_url` accepted, and answers with the name an admin gave the app, looked up from the
database, or None: nothing from the query string is ever shown as the app's name."""

from __future__ import annotations

from collections.abc import Callable

Resolver = Callable[[str], "str | None"]

_resolvers: list[Resolver] = []


def add_app_resolver(resolver: Resolver) -> None:
    if resolver not in _resolvers:
        _resolvers.append(resolver)


def app_name_for(next_url: str | None) -> str | None:
    """The name of the registered app `next_url` (already checked to be a local path) continues to."""
    if not next_url:
        return None
    for resolver in _resolvers:
        if name := resolver(next_url):
            return name
    return None
