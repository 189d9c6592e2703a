"""Sections other apps contribute to the account's pages, so accounts never imports them: mfa adds
its passkeys and two-step verification to the security page (and the passkey offer to the home page),
the OIDC provider the apps signed in to, federation its providers' buttons to the sign-in and sign-up
pages, the providers an account is linked to to the security page and "Confirm with <provider>" to the
re-authentication page. Each registers in its AppConfig.ready()."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

HOME = "home"
SECURITY = "security"
SIGNIN = "signin"
SIGNUP = "signup"
# "Confirm it's you": ways to re-authenticate besides the password (its template sees the page's `next`).
REAUTHENTICATE = "reauthenticate"


@dataclass(frozen=True)
class Section:
    """A template included in a page, and what it needs in the page's context (`context` is called
    with the request each time the page renders). `order`: lower comes first. A section without a
    template only adds to the context another section's template reads (saml's apps join the list of
    apps oidc's section shows, as `signed_on_apps`)."""

    template: str
    context: Callable[[Any], dict[str, Any]]
    order: int = 0


_sections: dict[str, list[Section]] = {HOME: [], SECURITY: [], SIGNIN: [], SIGNUP: [], REAUTHENTICATE: []}


def add_section(page: str, section: Section) -> None:
    if section not in _sections[page]:
        _sections[page].append(section)
        _sections[page].sort(key=lambda added: added.order)


def page_sections(request, page: str) -> dict[str, Any]:
    """The context the page's contributed sections need, and their templates (as `sections`)."""
    context: dict[str, Any] = {}
    for section in _sections[page]:
        context.update(section.context(request))
    context["sections"] = [section.template for section in _sections[page] if section.template]
    return context
