"""Proving ownership of an email address."""

from __future__ import annotations

from django.db import transaction

from identity import ratelimit
from identity.net import client_ip, rate_limit_subject

from ..audit import record_event
from ..models import OutboxMail, SecurityEvent, User, normalize_email
from ..outbox import queue_mail
from .signin import lift_password_throttling


def resend_verification(request, email: str) -> None:
    """Mail a fresh link to an unverified account, within the per-address and per-IP limits.

    Says nothing either way, so it cannot be used to probe which addresses have accounts.
    """
    email = normalize_email(email)
    ratelimit.hit(
        ("verify-resend-ip", rate_limit_subject(client_ip(request))), ("verify-resend-address", email.lower())
    )
    user = User.objects.filter(email__lower=email.lower(), is_active=True, email_verified=False).first()
    with transaction.atomic():  # the same work either way (see queue_mail): timing reveals nothing
        queue_mail(OutboxMail.Kind.VERIFY_EMAIL, user)


def verify_email(request, user: User) -> None:
    """Mark the address verified; this also voids every verification link already sent.

    Password failures counted against the address before the account existed (anyone may try any
    address) are forgotten: proving the mailbox is as good as a reset.
    """
    User.objects.filter(pk=user.pk).update(email_verified=True)
    user.email_verified = True
    record_event(request, SecurityEvent.Kind.EMAIL_VERIFIED, user)
    lift_password_throttling(user.email)
