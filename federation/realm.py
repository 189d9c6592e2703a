"""Home-realm discovery: an email domain an admin bound to a provider (Provider.bound_domains) signs in
there, and only there.

- accounts' sign-in page asks `find_realm` (registered in accounts.realms) and sends every address of
  a bound domain to the provider's start, with `login_hint` (the address) and `next`, instead of
  checking a password; sign-up, password reset and the address change refuse such addresses and
  point to the provider. The answer depends on the domain only, never on whether an account exists.
- An address in the domain that the provider vouches for (verified) never signs in to, or links, an
  existing account of that address, bound domain or not (flows.py; issue 15's rule is absolute). An
  account made with a password before its domain was bound would then be stranded (the sign-in page
  no longer takes its password), so the refusal gives the browser that came back with that verified
  address a short-lived signed cookie naming it (`offer_password_way`): the sign-in page then takes
  the password for exactly that address in that browser (accounts.realms' exemption), checked as
  always (limits, second factor), and the person links the provider from the security page. Only for
  the provider the domain is bound to, an active account with a usable password and no link to that
  provider yet. Any other address, and any other browser, gets the domain's answer as before: the
  cookie is had only by proving the address at the provider, so it tells nobody else who has an
  account.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.http import HttpResponse
from django.urls import reverse

from accounts import realms
from accounts.flows.signin import safe_next_url
from accounts.models import User
from identity.cookies import set_signed_cookie, signed_cookie

from .models import Provider, UpstreamLink

LOGIN_HINT_MAX = 254
PASSWORD_COOKIE = "federation-password"
_PASSWORD_SALT = "federation.password-way"
PASSWORD_WAY_AGE = 600  # time to type the password (and a second factor); then the provider again


def domain_of(email: str) -> str:
    return email.rpartition("@")[2].lower()


def bound_provider(email: str) -> Provider | None:
    """The enabled provider the address's domain is bound to. A disabled provider binds nothing: its
    domain's accounts sign in with their passwords again."""
    domain = domain_of(email)
    if not domain:
        return None
    # bound_domains is a short text field: the candidates are narrowed in SQL, the match made exactly.
    candidates = Provider.objects.filter(enabled=True, bound_domains__icontains=domain).order_by("pk")
    return next((provider for provider in candidates if domain in provider.bound()), None)


def may_create_for(provider: Provider, email: str) -> bool:
    """Whether this provider may make an account at this address as far as bound domains go: a domain
    bound to another provider is that one's to vouch for (an address another provider calls verified,
    say an old work address still on someone's GitHub, must not take the account before its owner
    signs in through the provider their organisation named)."""
    bound = bound_provider(email)
    return bound is None or bound.pk == provider.pk


def start_url(provider: Provider, email: str, next_url: str | None) -> str:
    query = {"login_hint": email}
    if next_url := safe_next_url(next_url):
        query["next"] = next_url
    return reverse("federation:start", args=[provider.slug]) + "?" + urlencode(query)


def find_realm(email: str, next_url: str | None) -> realms.Realm | None:
    provider = bound_provider(email)
    if provider is None:
        return None
    return realms.Realm(name=provider.name, domain=domain_of(email), signin_url=start_url(provider, email, next_url))


def with_login_hint(url: str, request) -> str:
    """The authorization URL with the start's `login_hint` (OpenID Connect Core 3.1.2.1), when it is
    an address: the provider then asks for that account's password without making the person type
    the address twice."""
    hint = request.GET.get("login_hint", "")
    if not hint or len(hint) > LOGIN_HINT_MAX:
        return url
    try:
        validate_email(hint)
    except ValidationError:
        return url
    return url + ("&" if "?" in url else "?") + urlencode({"login_hint": hint})


def password_way(provider: Provider, claims: dict, user: User) -> str:
    """The address the refusal of `user` (an existing account at the provider's verified address) may
    let this browser sign in to with its password, or "" (see the module's docstring for the guards)."""
    email = claims.get("email") or ""
    if (
        claims.get("email_verified") is not True
        or not isinstance(email, str)
        or email.lower() != user.email.lower()
        or not provider.enabled
        or bound_provider(email) != provider
        or not user.is_active
        or not user.has_usable_password()
        or UpstreamLink.objects.filter(user=user, provider=provider).exists()
    ):
        return ""
    return user.email


def offer_password_way(response: HttpResponse, email: str) -> HttpResponse:
    """The refusal page's answer sets the cookie: signed and timed (its own salt and PASSWORD_WAY_AGE,
    checked when read, whatever the browser keeps), private (HttpOnly, `__Host-`)."""
    value = {"email": email.lower()}
    return set_signed_cookie(response, PASSWORD_COOKIE, value, salt=_PASSWORD_SALT, max_age=PASSWORD_WAY_AGE)


def password_address(request) -> str:
    """The address this browser was given the password way for, if the cookie is genuine and fresh."""
    loaded = signed_cookie(request, PASSWORD_COOKIE, salt=_PASSWORD_SALT, max_age=PASSWORD_WAY_AGE)
    email = loaded.get("email") if isinstance(loaded, dict) else None
    return email if isinstance(email, str) and "@" in email else ""


def register() -> None:
    realms.add_finder(find_realm)
    realms.add_password_exemption(password_address)
