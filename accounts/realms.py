"""Home-realm discovery: which addresses sign in somewhere else. Another app (federation) registers a
finder in its AppConfig.ready(), so accounts never imports it: the finder says, for an address, that
its domain belongs to an identity provider an admin bound it to, and where to send the person.

The answer depends on the address's domain only, never on whether an account exists there, so the
pages that ask (sign-in, sign-up, password reset, address change) tell nobody who has an account.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Realm:
    """An address's domain is signed in to by `name` (a provider's button name); `signin_url` sends
    the person there, with the address and the `next` page passed along."""

    name: str
    domain: str
    signin_url: str


Finder = Callable[[str, str | None], Realm | None]

_finders: list[Finder] = []


def add_finder(finder: Finder) -> None:
    if finder not in _finders:
        _finders.append(finder)


def find(email: str, next_url: str | None = None) -> Realm | None:
    """The realm an address belongs to, if a finder knows one. `email` is normalised (a form's)."""
    if "@" not in email:
        return None
    return next((realm for finder in _finders if (realm := finder(email, next_url))), None)
