"""What a signed-in person does with sign-in providers: confirm it's you through one, link one to the
account, unlink one.

Confirming and linking are round trips like a sign-in (flows.py); their ticket names the purpose and is
bound to the person and the session that started it, and the callback hands the validated ID token's
claims to `complete_confirmation` or `complete_link` here, never to a sign-in.

- **Confirm with <provider>** is a re-authentication, for an account without a password most of all
  (one created through a provider has none). It asks the provider to authenticate the person again
  (`prompt=login`, `max_age=0`); the (issuer, subject) it names must be linked to this account, and the
  ID token's `auth_time` must be there and no older than the start of this round trip (less
  AUTH_TIME_LEEWAY): a provider that ignores `prompt=login` and answers from a session of last week
  confirms nothing. It then counts as the password does (accounts' `add_factor_to_session` with "fed"):
  an account with a second factor is still asked for one.
- **Link** (after a recent re-authentication, accounts' `reauthentication_required`): the upstream
  identity becomes a way into this account, unless it already is one into another account (refused);
  the same one again changes nothing. The owner is mailed, with a "This wasn't me" link that removes it
  (`remove_disowned_links`, through accounts' `credentials_disowned`), as for a passkey.
- **Unlink** (also after a recent re-authentication) never removes the last way in: the account keeps
  a usable password, another link to an enabled provider, or a factor that signs in alone (a passkey).
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import stages
from accounts.audit import record_credential_event, record_event
from accounts.flows.signin import add_factor_to_session
from accounts.models import CredentialEvent, OutboxMail, SecurityEvent, User
from accounts.outbox import queue_mail

from . import flows, realm
from .flows import METHOD, Refused, Ticket
from .models import Provider, UpstreamLink

Event = SecurityEvent.Kind
REAUTH = "reauth"
LINK = "link"
# Seconds an `auth_time` may lie before the round trip's start: the provider's clock and ours differ.
AUTH_TIME_LEEWAY = 60

log = logging.getLogger(__name__)


class LastWayIn(Exception):
    """Unlinking this provider would leave the account no way to sign in."""


def links_of(user) -> list[UpstreamLink]:
    return list(UpstreamLink.objects.filter(user=user).select_related("provider").order_by("created_at", "pk"))


def linkable_providers(user) -> list[Provider]:
    """The enabled providers the account is not linked to yet."""
    return list(Provider.objects.filter(enabled=True).exclude(links__user=user).only("slug", "name"))


def confirmable_providers(user) -> list[Provider]:
    """The enabled providers the account is linked to that can say when the person authenticated (an
    ID token's `auth_time`): GitHub's OAuth sends no ID token, so it cannot confirm anyone."""
    found = Provider.objects.filter(enabled=True, links__user=user).exclude(kind=Provider.Kind.GITHUB)
    return list(found.distinct().only("slug", "name"))


# --- confirm it's you ---------------------------------------------------------------------------------


def begin_confirmation(request, provider: Provider, next_url: str | None) -> tuple[str, Ticket]:
    """Send the signed-in person to a provider their account is linked to, to authenticate afresh."""
    if provider not in confirmable_providers(request.user):
        _refuse(request, "not_linked", provider.slug)
    return flows.begin_round_trip(
        request, provider, next_url, purpose=REAUTH, params={"prompt": "login", "max_age": "0"}
    )


def complete_confirmation(request, provider: Provider, claims: dict, ticket: Ticket) -> str:
    """The provider vouched for someone: a re-authentication if it is this account's own upstream
    identity and it authenticated just now."""
    link = UpstreamLink.objects.filter(issuer=claims["iss"], subject=claims["sub"], user=request.user).first()
    if link is None:
        _refuse(request, "not_linked", provider.slug)  # someone else's account there, or none linked
    if not fresh(claims.get("auth_time"), ticket.started):
        _refuse(request, "stale", provider.slug)
    UpstreamLink.objects.filter(pk=link.pk).update(last_used_at=timezone.now())
    add_factor_to_session(request, METHOD, id=link.pk)
    record_event(request, Event.REAUTHENTICATED, request.user, method=METHOD, reason=provider.slug)
    return ticket.next or reverse("accounts:security")


def fresh(auth_time, started: int) -> bool:
    """Whether an ID token's `auth_time` (seconds since the epoch, OpenID Connect Core 2) says the person
    authenticated during this round trip. Absent, or not a number, is not fresh: a provider that does not
    say when cannot confirm."""
    if isinstance(auth_time, bool) or not isinstance(auth_time, int | float):
        return False
    return auth_time >= started - AUTH_TIME_LEEWAY


# --- link ---------------------------------------------------------------------------------------------


def begin_link(request, provider: Provider) -> tuple[str, Ticket]:
    """Send the signed-in person (recently re-authenticated: the view requires it) to a provider, to
    come back as the upstream identity to link. `prompt=login`: whoever is signed in at the provider in
    this browser (someone who planted their own session there, or used this computer before) must not be
    linked silently; the person signs in there now, as the identity they mean."""
    return flows.begin_round_trip(
        request, provider, reverse("accounts:security"), purpose=LINK, params={"prompt": "login"}
    )


def complete_link(request, provider: Provider, claims: dict, ticket: Ticket) -> str:
    """Link the upstream identity the provider vouched for to this account: audited, and mailed to the
    owner with a "This wasn't me" link that removes it. An identity linked to another account stays
    with it (refused, and audited on this one); linked to this one already, nothing changes."""
    user = request.user
    issuer, subject = claims["iss"], claims["sub"]
    existing = UpstreamLink.objects.filter(issuer=issuer, subject=subject).first()
    if existing is not None and existing.user_id != user.pk:
        _refuse(request, "linked_elsewhere", provider.slug)
    if existing is not None:
        messages.info(request, _("Your account was already linked to that %(name)s account.") % {"name": provider.name})
        return ticket.next
    given = claims.get("email")
    email = given if isinstance(given, str) else ""
    try:
        with transaction.atomic():
            link = UpstreamLink.objects.create(
                user=user, provider=provider, issuer=issuer, subject=subject, email=email[:254]
            )
            event = record_credential_event(request, user, CredentialEvent.Kind.UPSTREAM_LINKED, fed=[link.pk])
            record_event(request, Event.UPSTREAM_LINKED, user, method=METHOD, reason=provider.slug)
            _mail(request, user, link, "linked", event)
    except IntegrityError:  # linked to another account at the same moment
        _refuse(request, "linked_elsewhere", provider.slug)
    messages.success(request, _("%(name)s is linked: you can now sign in with it.") % {"name": provider.name})
    return ticket.next


# --- unlink -------------------------------------------------------------------------------------------


def unlink(request, link_id: int) -> UpstreamLink | None:
    """Remove one of the person's links (None if it is not theirs), audited and mailed; raises LastWayIn
    when it is the account's last way in. The person's row is locked first, so two unlinks at once (of
    the last two links) are decided one after the other and cannot both see "another one is left"."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=request.user.pk)
        link = UpstreamLink.objects.filter(pk=link_id, user=user).select_related("provider").first()
        if link is None:
            return None
        if not another_way_in(user, link):
            raise LastWayIn
        link.delete()
        record_event(request, Event.UPSTREAM_UNLINKED, user, method=METHOD, reason=link.provider.slug)
        _mail(request, user, link, "unlinked")
    return link


def another_way_in(user: User, link: UpstreamLink) -> bool:
    """Whether the account can still be signed in to without this link: a usable password, another
    link to an enabled provider, or a factor that signs in alone (a passkey; accounts.stages). In a
    domain bound to a provider the password does not count: the sign-in page sends the address to that
    provider, and takes the password only after it vouches for that very address (realm.py), which an
    upstream account under another address never does."""
    if user.has_usable_password() and realm.bound_provider(user.email) is None:
        return True
    if UpstreamLink.objects.filter(user=user, provider__enabled=True).exclude(pk=link.pk).exists():
        return True
    return stages.holds_factor_that_signs_in(user)


def remove_disowned_links(request, user: User, link_ids: list[int]) -> None:
    """The owner said "This wasn't me" of what added these links (accounts/flows/not_me.py): they go,
    whatever is left, as an intruder's passkey goes (the recovery mails the owner a reset link)."""
    for link in UpstreamLink.objects.filter(user=user, pk__in=link_ids).select_related("provider"):
        link.delete()
        record_event(request, Event.UPSTREAM_UNLINKED, user, method=METHOD, reason="not_me")


def _mail(request, user: User, link: UpstreamLink, change: str, event: CredentialEvent | None = None) -> None:
    """Every change is mailed (not once per period, as warnings are): an intruder's link must never
    hide behind the owner's own mail of a moment before."""
    facts: dict[str, Any] = {"event": event.pk} if event is not None else {}
    queue_mail(
        OutboxMail.Kind.UPSTREAM_CHANGED,
        user,
        request=request,
        change=change,
        provider=link.provider.name,
        upstream_email=link.email,
        **facts,
    )


def _refuse(request, reason: str, slug: str) -> NoReturn:
    """Audited on the signed-in person, as flows.py audits a refused sign-in."""
    log.info("upstream %s through %s refused", reason, slug)
    record_event(request, Event.SIGNIN_FAILED, request.user, method=METHOD, reason=f"{slug}:{reason}"[:40])
    raise Refused(reason, slug)


def register() -> None:
    flows.add_purpose(REAUTH, complete_confirmation)
    flows.add_purpose(LINK, complete_link)
