"""Signing in through an upstream provider: the start, the callback, and the linking rules.

`begin_upstream_signin` sends the browser to the provider with state, nonce and PKCE; what the callback
needs back rides in a signed, short-lived private cookie (a "ticket"), since an anonymous browser gets
no session here. `complete_upstream_signin` checks the ticket, the `iss` of the response (RFC 9207),
lets client.py exchange the code and validate the ID token, then applies the linking rules:

- a person is found by the link (issuer, subject), never by email;
- a verified address that matches an existing account never signs in to it or links it: its owner
  must first sign in by the account's own means, then link the provider from the security page;
- with no link and no such account, a provider allowed to create accounts creates one (address
  verified, in an allowed domain), links it and signs in;
- an unverified address (`email_verified` false or absent) never creates or matches an account
  (verify.py mails it first);
- an inactive account or a disabled provider is refused.

An upstream sign-in is one factor ("fed"): accounts' `begin_signin` then runs the stages exactly as
after a password, so an account with a second factor is asked for it, unless the provider's own second
factor is trusted (assurance.py).

The same round trip serves a signed-in person (linking.py): confirming it's you through a provider, and
linking one. Their tickets name that purpose and are bound to the person and the session that started
them (`Ticket.purpose`, `user`, `session`); the callback hands them to the purpose's own ending
(`add_purpose`) once the ID token is validated, and never signs anyone in with them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import NoReturn

from authlib.common.urls import add_params_to_uri
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _

from accounts.audit import record_event
from accounts.flows.signin import begin_signin, safe_next_url
from accounts.models import SecurityEvent, User, normalize_email
from accounts.signin_state import signin_state
from identity import ratelimit
from identity.net import client_ip, rate_limit_subject

from . import assurance, client, realm, verify
from .app_settings import app_settings
from .metrics import count_refusal
from .models import Provider, UpstreamLink

Event = SecurityEvent.Kind
METHOD = "fed"
TICKET_COOKIE = "federation"
_TICKET_SALT = "federation.ticket"
SIGNIN = "signin"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ticket:
    """What the callback must see again: which provider, the state and nonce sent, the PKCE verifier,
    and where to go after. Signed (it must not be made up) and timed (FEDERATION_STATE_TIMEOUT).

    `purpose`: SIGNIN (anonymous), or a signed-in person's round trip (linking.py), then bound to
    `user` (their id) and `session` (its stable reference), and `started` (when it began, for the ID
    token's `auth_time`)."""

    provider: str
    state: str
    nonce: str
    verifier: str
    next: str
    purpose: str = SIGNIN
    user: int | None = None
    session: str = ""
    started: int = 0

    def dumps(self) -> str:
        return signing.dumps(asdict(self), salt=_TICKET_SALT)

    @classmethod
    def loads(cls, value: str) -> Ticket | None:
        if not value:
            return None
        try:
            return cls(**signing.loads(value, salt=_TICKET_SALT, max_age=app_settings.FEDERATION_STATE_TIMEOUT))
        except (signing.BadSignature, TypeError):
            return None


class Refused(Exception):
    """An upstream sign-in that must not go on. `reason` picks the page's words (views.py) and ends the
    audit row's reason ("<provider>:<reason>")."""

    def __init__(self, reason: str, provider: str = "", password_email: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.provider = provider
        self.password_email = password_email  # email_taken in a bound domain: see realm.offer_password_way


def callback_url(provider: Provider) -> str:
    """Named by SITE_URL, never the request's Host, which the client chooses."""
    return settings.SITE_URL.rstrip("/") + reverse("federation:callback", args=[provider.slug])


def check_rate_limit(request) -> None:
    """Starts and callbacks from one address are counted together: each costs calls to the provider."""
    try:
        ratelimit.hit(("federation-ip", rate_limit_subject(client_ip(request))))
    except ratelimit.RateLimited as throttled:
        message = _("Too many attempts. Please wait %(wait)s before trying again.")
        audit = ratelimit.Audit(Event.SIGNIN_THROTTLED, None, METHOD, "federation-ip")
        raise throttled.saying(message, audit=audit) from None


def begin_upstream_signin(request, provider: Provider, next_url: str | None) -> tuple[str, Ticket]:
    """Where to send the browser (the provider's authorization endpoint), and the ticket to set as
    the private cookie."""
    return begin_round_trip(request, provider, next_url)


def begin_round_trip(
    request, provider: Provider, next_url: str | None, *, purpose: str = SIGNIN, params: dict[str, str] | None = None
) -> tuple[str, Ticket]:
    """The start of any round trip: an anonymous sign-in, or (another `purpose`) one of the signed-in
    person's, whose ticket is bound to them and this session. `params` go on the authorization URL
    (`prompt`, `max_age`)."""
    check_rate_limit(request)
    try:
        started = client.authorization(provider, callback_url(provider))
    except client.UpstreamError as error:
        _refuse(request, "unreachable", provider.slug, detail=error.step)
    bound = purpose != SIGNIN
    ticket = Ticket(
        provider=provider.slug,
        state=started["state"],
        nonce=started["nonce"],
        verifier=started["code_verifier"],
        next=safe_next_url(next_url) or "",
        purpose=purpose,
        user=request.user.pk if bound else None,
        session=signin_state(request).ref if bound else "",
        started=int(time.time()),
    )
    url = add_params_to_uri(started["url"], list(params.items())) if params else started["url"]
    return realm.with_login_hint(url, request), ticket


# The endings of the signed-in person's round trips (linking.py registers them): called with the
# validated claims once the ticket is known to be this person's and this session's.
_purposes: dict[str, Callable[[object, Provider, dict, Ticket], str]] = {}


def add_purpose(purpose: str, complete: Callable[[object, Provider, dict, Ticket], str]) -> None:
    _purposes[purpose] = complete


def bound_to_this_session(request, ticket: Ticket) -> bool:
    """A signed-in person's ticket works only in the session that started it, for the same person: a
    cookie carried to another browser, or left behind after signing out and in as someone else, fails."""
    ref = signin_state(request).ref if request.user.is_authenticated else ""
    return (
        ticket.user is not None
        and request.user.pk == ticket.user
        and bool(ref)
        and constant_time_compare(ref, ticket.session)
    )


def complete_upstream_signin(request, slug: str, ticket_value: str) -> str:
    """The provider sent the browser back. Returns where to send it next; raises Refused otherwise.
    The caller deletes the ticket cookie whatever happens, so a callback works once."""
    check_rate_limit(request)
    ticket = Ticket.loads(ticket_value)
    if ticket is None or ticket.provider != slug:
        _refuse(request, "state", slug)  # no ticket, an expired one, or one for another provider (mix-up)
    if not constant_time_compare(request.GET.get("state", ""), ticket.state):
        _refuse(request, "state", slug)
    provider = Provider.objects.filter(slug=slug).first()
    if provider is None or not provider.enabled:
        _refuse(request, "disabled", slug)
    if ticket.purpose != SIGNIN:
        # Checked before the code is spent: another person's or another session's ticket goes nowhere.
        if ticket.purpose not in _purposes or not bound_to_this_session(request, ticket):
            _refuse(request, "session", slug, user=request.user if request.user.is_authenticated else None)
    if request.GET.get("error") or not request.GET.get("code"):
        _refuse(request, "upstream", slug)  # the person cancelled, or the provider refused
    claims = _validated_claims(request, provider, ticket)
    if ticket.purpose != SIGNIN:
        return _purposes[ticket.purpose](request, provider, claims, ticket)
    return _sign_in(request, provider, claims, ticket.next)


def _validated_claims(request, provider: Provider, ticket: Ticket) -> dict:
    """The claims client.py validated (iss, sub, email, email_verified; amr, acr, auth_time when sent),
    or the refusal: the provider unreachable, its response naming another issuer (RFC 9207), or its
    code or tokens refused."""
    try:
        claims = client.validated_claims(
            provider,
            callback_url(provider),
            code=request.GET["code"],
            code_verifier=ticket.verifier,
            nonce=ticket.nonce,
            response_iss=request.GET.get("iss"),
        )
    except client.UpstreamError as error:
        reason = {"discovery": "unreachable", "issuer": "issuer"}.get(error.step, "token")
        _refuse(request, reason, provider.slug, detail=error.step)
    if not _names_someone(claims):
        _refuse(request, "token", provider.slug, detail="claims")
    return claims


def _names_someone(claims: dict) -> bool:
    """A signature says who sent the claims, not that they fit here: `iss` and `sub` must be strings that
    fit a link's columns, the address a string or absent (one we would not take at sign-up is refused
    later, as not allowed). A provider sending anything else is refused like a bad token, never a 500."""
    iss, sub, email = claims.get("iss"), claims.get("sub"), claims.get("email")
    return (
        isinstance(iss, str)
        and 0 < len(iss) <= 300
        and isinstance(sub, str)
        and 0 < len(sub) <= 255
        and (email is None or isinstance(email, str))
    )


def _sign_in(request, provider: Provider, claims: dict, next_url: str) -> str:
    """The linking rules (see the module's docstring)."""
    issuer, subject = claims["iss"], claims["sub"]
    link = UpstreamLink.objects.filter(issuer=issuer, subject=subject).select_related("user").first()
    if link is not None:
        return _sign_in_linked(request, provider, link, next_url, claims)
    if claims.get("email_verified") is not True or not claims.get("email"):
        # Our own mail verifies it first (verify.py); refused if this provider could not create the account.
        return verify.begin_address_verification(request, provider, claims, next_url) or _refuse(
            request, "unverified", provider.slug
        )
    email = normalize_email(claims["email"])
    existing = User.objects.filter(email__lower=email.lower()).first()
    if existing is not None:
        # Even in a domain bound to this provider; there the refusal lets this browser use the account's
        # password for that address, to sign in and link (realm.py).
        offer = realm.password_way(provider, claims, existing)
        _refuse(request, "email_taken", provider.slug, user=existing, password_email=offer)
    if (
        not provider.may_create_accounts
        or not provider.allows_domain(email)
        or not _valid_address(email)
        or not realm.may_create_for(provider, email)
    ):
        _refuse(request, "not_allowed", provider.slug)
    try:
        with transaction.atomic():
            user = User.objects.create_user(email, None, email_verified=True)
            link = UpstreamLink.objects.create(
                user=user, provider=provider, issuer=issuer, subject=subject, email=email, last_used_at=timezone.now()
            )
            record_event(request, Event.UPSTREAM_LINKED, user, method=METHOD, reason=provider.slug)
    except IntegrityError:
        # The same person (or address) arrived twice at once: the other request created it.
        _refuse(request, "email_taken", provider.slug)
    return begin_signin(request, user, METHOD, next_url, **assurance.signin_facts(provider, claims))


def _valid_address(email: str) -> bool:
    """A provider's address becomes an account's sign-in name only if it is one we would take at sign-up."""
    try:
        validate_email(email)
    except ValidationError:
        return False
    return len(email) <= User._meta.get_field("email").max_length  # type: ignore[operator]  # always set


def _sign_in_linked(request, provider: Provider, link: UpstreamLink, next_url: str, claims: dict) -> str:
    user = link.user
    if not user.is_active:
        _refuse(request, "inactive", provider.slug, user=user)
    UpstreamLink.objects.filter(pk=link.pk).update(last_used_at=timezone.now())
    record_event(request, Event.UPSTREAM_VERIFIED, user, method=METHOD, reason=provider.slug)
    return begin_signin(request, user, METHOD, next_url, **assurance.signin_facts(provider, claims))


def _refuse(
    request, reason: str, slug: str, *, user: User | None = None, detail: str = "", password_email: str = ""
) -> NoReturn:
    """Audit the refusal and raise it; `detail` (which protocol step failed) goes to the log only."""
    log.info("upstream sign-in through %s refused: %s %s", slug, reason, detail)
    count_refusal(reason, slug)
    record_event(request, Event.SIGNIN_FAILED, user, method=METHOD, reason=f"{slug}:{reason}"[:40])
    raise Refused(reason, slug, password_email)
