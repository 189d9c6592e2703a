""""This wasn't me": evicting someone who got in with the owner's password.

Two ways in. The link in a mail about a credential event (a factor added, recovery codes generated, the
address changed, a sign-in from a new browser) undoes that event, and whatever else the same session
added, with no sign-in needed: it proves only the mailbox the event was told to. The security page's
button undoes what every other live session added. Either way every session ends, every app's tokens
are revoked, the current password stops working (the intruder knows it) and a reset link is mailed.

What a mailbox alone can never do is remove a factor no event named: a reset link keeps every factor
(accounts/flows/password.py), so the owner's own factors stay and theirs is the only way back in.
"""

from __future__ import annotations

from django.contrib.auth import logout
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..audit import record_event
from ..devices import forget_devices
from ..models import CredentialEvent, OutboxMail, SecurityEvent, User
from ..outbox import queue_mail
from ..signals import credentials_disowned
from .signin import SESSION_REF, end_all_access

Event = SecurityEvent.Kind


def undo_credential_event(request, event: CredentialEvent) -> bool | None:
    """Undo a mailed event and what its session added, then evict. None if the link was used meanwhile
    (two clicks race: one acts); otherwise whether the account's address is one its owner can read
    (False only when the old address it should go back to now belongs to another account)."""
    with transaction.atomic():
        locked = CredentialEvent.objects.select_for_update().filter(pk=event.pk, used_at__isnull=True).first()
        if locked is None:
            return None
        same_session = CredentialEvent.objects.none()
        if locked.session_ref:
            same_session = CredentialEvent.objects.filter(user_id=locked.user_id, session_ref=locked.session_ref)
        events = [locked, *same_session.filter(used_at__isnull=True).exclude(pk=locked.pk).select_for_update()]
        reachable = _evict(request, locked.user, events)
    end_all_access(event.user)
    if request.user.is_authenticated and request.user.pk == event.user_id:
        logout(request)
    return reachable


def undo_sessions_events(request, user: User, session_refs: set[str]) -> bool:
    """The security page's "This wasn't me": undo what these sessions added, then evict (the caller
    ends every session). Returns whether the address is one the owner can read (see above)."""
    with transaction.atomic():
        events = list(
            CredentialEvent.objects.select_for_update().filter(
                user=user, session_ref__in=session_refs - {""}, used_at__isnull=True
            )
        )
        return _evict(request, user, events)


def _evict(request, user: User, events: list[CredentialEvent]) -> bool:
    """Inside the caller's transaction: undo the events newest first (so a chain of address changes ends
    at the first one's old address), make the password unusable, forget known browsers, and mail a
    reset link to the restored address."""
    user = User.objects.select_for_update().get(pk=user.pk)
    reachable = True
    for event in sorted(events, key=lambda e: (e.created_at, e.pk), reverse=True):
        if "previous_email" in event.added:
            reachable = _restore_address(request, user, event.added["previous_email"])
        credentials_disowned.send(sender=__name__, request=request, user=user, added=event.added)
    CredentialEvent.objects.filter(pk__in=[event.pk for event in events]).update(used_at=timezone.now())
    user.set_unusable_password()  # the intruder knows it; the reset link sets a new one
    user.save(update_fields=["password"])
    forget_devices(user)
    record_event(request, Event.NOT_ME, user)
    if reachable:
        queue_mail(OutboxMail.Kind.PASSWORD_RESET, user, request=request, reason="not_me")
    return reachable


def _restore_address(request, user: User, previous: str) -> bool:
    """Put back the address an intruder changed. The link came from a mail to it, so it is proven."""
    if user.email.lower() == previous.lower():
        return True
    try:
        with transaction.atomic():
            User.objects.filter(pk=user.pk).update(email=previous, email_verified=True)
    except IntegrityError:  # someone else signed up with it meanwhile: only an admin can sort that out
        return False
    user.email, user.email_verified = previous, True
    record_event(request, Event.EMAIL_CHANGED, user, reason="not_me")
    return True


def other_session_refs(request, sessions: dict[str, dict]) -> set[str]:
    """The stable references of the user's live sessions other than this one."""
    current = request.session.get(SESSION_REF)
    return {data.get(SESSION_REF, "") for data in sessions.values()} - {current, ""}
