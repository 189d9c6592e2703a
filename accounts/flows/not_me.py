""" "This wasn't me": evicting someone who got in with the owner's password.

Two ways in. The link in a mail about a credential event (a factor added, recovery codes generated, the
address changed, a sign-in from a new browser) needs no sign-in: it proves only the mailbox the event was
told to (`CredentialEvent.told`), so it undoes only what that mailbox was told of (`link_reach`). The
security page's button undoes what every other session added within the links' lifetime, live or ended,
once this session has proved again what it signed in with (flows/security.py). Either way every session
ends, every app's tokens are revoked, the current password stops working (the intruder knows it) and a
reset link is mailed.

What a mailbox alone can never do is remove a factor it was not told of: a reset link keeps every factor
(accounts/flows/password.py), so the owner's own factors stay and theirs is the only way back in.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import logout
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from ..app_settings import app_settings
from ..audit import record_event
from ..devices import forget_devices
from ..models import CredentialEvent, OutboxMail, SecurityEvent, User
from ..outbox import queue_mail
from ..signals import credentials_disowned
from ..signin_state import signin_state
from .signin import end_all_access

Event = SecurityEvent.Kind


def undo_credential_event(request, event: CredentialEvent) -> bool | None:
    """Undo a mailed event and what else its recipient was told of (`link_reach`), then evict. None if
    the link was used meanwhile (two clicks race: one acts); otherwise whether the account's address is
    one its owner can read (False only when the old address it should go back to now belongs to another
    account)."""
    with transaction.atomic():
        locked = CredentialEvent.objects.select_for_update().filter(pk=event.pk, used_at__isnull=True).first()
        if locked is None:
            return None
        events = [locked, *link_reach(locked).select_for_update()]
        reachable = _evict(request, locked.user, events)
    end_all_access(event.user)
    if request.user.is_authenticated and request.user.pk == event.user_id:
        logout(request)
    return reachable


def link_reach(event: CredentialEvent) -> QuerySet[CredentialEvent]:
    """The other unused events a link for `event` undoes: the later events of the same session whose
    mail went to the same address as this link's. Clicking says "from here on, that session wasn't me",
    so an intruder who added a passkey and then moved the account is undone by the passkey mail; but the
    mailbox is all the link proves, so it never reaches what another address was told of (a factor the
    owner set up after moving the account away from a stolen mailbox), nor anything earlier (the
    owner's own additions before a cookie thief took the session over). The session's sign-in from a new
    browser is closed with it at any time: it added nothing, and its link would only evict again. A link
    mailed to an address the account was moving away from (EMAIL_CHANGED) reaches nothing: it only puts
    that address back."""
    if event.kind == CredentialEvent.Kind.EMAIL_CHANGED or not event.session_ref or not event.told:
        return CredentialEvent.objects.none()
    later = Q(created_at__gt=event.created_at) | Q(created_at=event.created_at, pk__gt=event.pk)
    return CredentialEvent.objects.filter(
        later | Q(kind=CredentialEvent.Kind.NEW_DEVICE),
        user_id=event.user_id,
        session_ref=event.session_ref,
        told__iexact=event.told,
        used_at__isnull=True,
    )


def undo_other_sessions_events(request, user: User) -> bool:
    """The security page's "This wasn't me": undo every unused event within the links' lifetime that this
    session did not make, whether the session that made it is still signed in or not (an intruder who
    added a passkey and signed out must lose it too), then evict (the caller ends every session).
    A factor this session proved (its sign-in, or the re-authentication the button asked for) stays:
    whoever presses holds it. Returns whether the address is one the owner can read (see above)."""
    since = timezone.now() - timedelta(seconds=app_settings.NOT_ME_LINK_TIMEOUT)
    current = signin_state(request).ref
    with transaction.atomic():
        others = CredentialEvent.objects.select_for_update().filter(
            user=user, used_at__isnull=True, created_at__gte=since
        )
        if current:
            others = others.exclude(session_ref=current)
        return _evict(request, user, list(others), keep=signin_state(request).proved_ids())


def _evict(request, user: User, events: list[CredentialEvent], keep: dict[str, set[int]] | None = None) -> bool:
    """Inside the caller's transaction: undo the events newest first (so a chain of address changes ends
    at the first one's old address), except the factors in `keep` (by method, row ids); make the
    password unusable, forget known browsers, and mail a reset link to the restored address."""
    user = User.objects.select_for_update().get(pk=user.pk)
    reachable = True
    for event in sorted(events, key=lambda e: (e.created_at, e.pk), reverse=True):
        if "previous_email" in event.added:
            reachable = _restore_address(request, user, event.added["previous_email"])
        added = _except(event.added, keep or {})
        credentials_disowned.send(sender=__name__, request=request, user=user, added=added)
    CredentialEvent.objects.filter(Q(pk__in=[event.pk for event in events]) | _superseded(events)).update(
        used_at=timezone.now()
    )
    user.set_unusable_password()  # the intruder knows it; the reset link sets a new one
    user.save(update_fields=["password"])
    forget_devices(user)
    record_event(request, Event.NOT_ME, user)
    if reachable:
        queue_mail(OutboxMail.Kind.PASSWORD_RESET, user, request=request, reason="not_me")
    return reachable


def _except(added: dict, keep: dict[str, set[int]]) -> dict:
    """What an event added, less the factors to keep, and less its recovery codes if one of them is kept
    (they came with that factor)."""
    trimmed = {method: [pk for pk in added[method] if pk not in keep[method]] for method in keep.keys() & added.keys()}
    if any(trimmed[method] != added[method] for method in trimmed):
        trimmed["recovery"] = []
    return {**added, **trimmed}


def _superseded(events: list[CredentialEvent]) -> Q:
    """Address changes made after an address that is now put back: their links would only move the
    account away from it again (to an address the restore just took it from), so they go with it."""
    restored = [event for event in events if event.kind == CredentialEvent.Kind.EMAIL_CHANGED]
    if not restored:
        return Q(pk__in=[])
    first = min(restored, key=lambda e: (e.created_at, e.pk))
    return Q(
        user_id=first.user_id,
        kind=CredentialEvent.Kind.EMAIL_CHANGED,
        created_at__gt=first.created_at,
        used_at__isnull=True,
    )


def _restore_address(request, user: User, previous: str) -> bool:
    """Put back the address an intruder changed. The link came from a mail to it, so it is proven. The
    address it replaces is told: it may be the owner's, who moved away from a stolen mailbox."""
    replaced = user.email
    if replaced.lower() == previous.lower():
        return True
    try:
        with transaction.atomic():
            User.objects.filter(pk=user.pk).update(email=previous, email_verified=True, updated_at=timezone.now())
    except IntegrityError:  # someone else signed up with it meanwhile: only an admin can sort that out
        return False
    user.email, user.email_verified = previous, True
    record_event(request, Event.EMAIL_CHANGED, user, reason="not_me")
    queue_mail(OutboxMail.Kind.EMAIL_CHANGED, user, request=request, to=replaced, new_email=previous, by_not_me=True)
    return True
