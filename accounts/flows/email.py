"""Changing the address of an account: it takes effect only once the new address is proven."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from identity import ratelimit

from ..audit import record_credential_event, record_event
from ..models import CredentialEvent, OutboxMail, SecurityEvent, User
from ..outbox import queue_mail
from .signin import end_all_access, lift_password_throttling

Event = SecurityEvent.Kind


def request_email_change(request, user: User, new_email: str) -> None:
    """Mail a confirmation link to the new address.

    If another account already uses it, that account's owner is told instead; the page the user sees
    is the same either way, so this cannot be used to find out who has an account.
    """
    ratelimit.hit(("email-change-account", str(user.pk)))
    taken_by = User.objects.filter(email__lower=new_email.lower()).exclude(pk=user.pk).first()
    with transaction.atomic():
        record_event(request, Event.EMAIL_CHANGE_REQUESTED, user)
        if taken_by is not None:
            owner = taken_by if taken_by.is_active else None  # a decoy for deactivated accounts
            queue_mail(OutboxMail.Kind.ACCOUNT_EXISTS, owner, attempt="email_change")
        else:
            queue_mail(OutboxMail.Kind.EMAIL_CHANGE, user, to=new_email)


def complete_email_change(request, user: User, new_email: str) -> bool:
    """Switch to the proven address and tell the old one. False if the address was taken meanwhile."""
    old_email = user.email
    try:
        with transaction.atomic():
            user.email = new_email
            user.email_verified = True
            user.save(update_fields=["email", "email_verified"])
            record_event(request, Event.EMAIL_CHANGED, user)
            # The old address's owner can put it back with this mail's "This wasn't me" link.
            undo = record_credential_event(
                request, user, CredentialEvent.Kind.EMAIL_CHANGED, told=old_email, previous_email=old_email
            )
            queue_mail(
                OutboxMail.Kind.EMAIL_CHANGED, user, request=request, to=old_email, new_email=new_email, event=undo.pk
            )
    except IntegrityError:
        user.email = old_email
        return False
    lift_password_throttling(new_email)  # failures against the address from before it was this account's
    return True


def email_changed_by_admin(
    request, user: User, old_email: str, *, actor: User | None = None, provisioner: str = ""
) -> None:
    """An admin (or a SCIM client, `provisioner`) saved a new address for the person. Whoever reads the
    new mailbox can now reset the password, so this is treated like a credential change: the old
    address is told (naming the admin's hand in it), every session ends and every app's tokens are
    revoked, and it is audited with the acting admin or client."""
    with transaction.atomic():
        reason = "scim" if provisioner else "admin"
        record_event(request, Event.EMAIL_CHANGED, user, actor=actor, reason=reason, provisioner=provisioner)
        queue_mail(
            OutboxMail.Kind.EMAIL_CHANGED, user, request=request, to=old_email, new_email=user.email, by_admin=True
        )
    end_all_access(user, keep_request=request)
    lift_password_throttling(user.email)
