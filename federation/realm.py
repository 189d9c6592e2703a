"""Home-realm discovery: an email domain an admin bound to a provider (Provider.bound_domains) signs in
there, and only there.

- accounts' sign-in page asks `find_realm` (registered in accounts.realms) and sends every address of
  a bound domain to the provider's start, with `login_hint` (the address) and `next`, instead of
  checking a password; sign-up, password reset and the address change refuse such addresses and
  point to the provider. The answer depends on the domain only, never on whether an account exists.
- Binding a domain declares the provider authoritative for it: an address in the domain that the
  provider says is verified links an existing account of that address on its first sign-in through
  it (`sign_in_bound_account`), where any other provider's address never does (flows.py). Without
  this, an account made with a password before its domain was bound could never sign in again: the
  sign-in page no longer takes its password, and its address alone would be refused.
  Guards: the provider is enabled and the domain bound to it (not just allowed), the address is
  verified (JSON true), the account is active and has no link to this provider yet (a provider that
  gives a reassigned address to a new person does not hand them the old one's account), and an
  account with a second factor is still asked for it (begin_signin's stages).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts import realms
from accounts.audit import record_event
from accounts.flows.signin import begin_signin, safe_next_url
from accounts.models import SecurityEvent, User

from .models import Provider, UpstreamLink

METHOD = "fed"
LOGIN_HINT_MAX = 254


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


def sign_in_bound_account(request, provider: Provider, claims: dict, user: User, next_url: str) -> str | None:
    """An existing account at a verified address of a domain bound to this provider: link it and sign
    in (see the module's docstring for why, and the guards). None: the usual rule applies (refused)."""
    email = claims.get("email") or ""
    if (
        claims.get("email_verified") is not True
        or not provider.enabled
        or domain_of(email) not in provider.bound()
        or bound_provider(email) != provider
        or not user.is_active
        or UpstreamLink.objects.filter(user=user, provider=provider).exists()
    ):
        return None
    try:
        with transaction.atomic():
            UpstreamLink.objects.create(
                user=user,
                provider=provider,
                issuer=claims["iss"],
                subject=claims["sub"],
                email=email,
                last_used_at=timezone.now(),
            )
            record_event(
                request, SecurityEvent.Kind.UPSTREAM_LINKED, user, method=METHOD, reason=f"{provider.slug}:bound"
            )
    except IntegrityError:
        return None  # the same subject was linked meanwhile (a parallel callback): refused as usual
    return begin_signin(request, user, METHOD, next_url)


def register() -> None:
    realms.add_finder(find_realm)
