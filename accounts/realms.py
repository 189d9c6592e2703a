"""Home-realm discovery: which addresses sign in somewhere else. Another app (federation) registers a
finder in its AppConfig.ready(), so accounts never imports it: the finder says, for an address, that
its domain belongs to an identity provider an admin bound it to, and where to send the person.

The answer depends on the address's domain only, never on whether an account exists there, so the
pages that ask (sign-in, sign-up, password reset, address change) tell nobody who has an account.

One exception, for the sign-in page only and for one browser: a browser that proved an address at the
domain's provider, where an account with a password exists (federation's refusal to link it by that
address), may sign in to that account with its password, then link the provider. The finder app says
which address (`add_password_exemption`): it is that browser's own, never asked of the address typed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest


@dataclass(frozen=True)
class Realm:
    """An address's domain is signed in to by `name` (a provider's button name); `signin_url` sends
    the person there, with the address and the `next` page passed along."""

    name: str
    domain: str
    signin_url: str


Finder = Callable[[str, str | None], Realm | None]
# The address this browser may sign in to with its password although its domain is bound ("" for none).
PasswordExemption = Callable[[HttpRequest], str]

_finders: list[Finder] = []
_exemptions: list[PasswordExemption] = []


def add_finder(finder: Finder) -> None:
    if finder not in _finders:
        _finders.append(finder)


def find(email: str, next_url: str | None = None) -> Realm | None:
    """The realm an address belongs to, if a finder knows one. `email` is normalised (a form's)."""
    if "@" not in email:
        return None
    return next((realm for finder in _finders if (realm := finder(email, next_url))), None)


def add_password_exemption(exemption: PasswordExemption) -> None:
    if exemption not in _exemptions:
        _exemptions.append(exemption)


def password_address(request: HttpRequest) -> str:
    """The address this browser may sign in to with its password on the sign-in page whatever its
    realm (lowercased), or "". The password is then checked as for any other address."""
    return next((found.lower() for exemption in _exemptions if (found := exemption(request))), "")


def find_for_signin(request: HttpRequest, email: str, next_url: str | None = None) -> Realm | None:
    """`find`, for the sign-in page: the realm of an address, unless it is this browser's exempt one."""
    if "@" in email and email.lower() == password_address(request):
        return None
    return find(email, next_url)
