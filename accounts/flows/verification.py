"""Proving ownership of an email address."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from identity.ratelimit import allow_once_per

from ..models import OutboxMail, User, normalize_email
from ..outbox import queue_mail


def resend_verification(email: str) -> None:
    """Mail a fresh link to an unverified account, at most once per interval per address.

    Says nothing either way, so it cannot be used to probe which addresses have accounts.
    """
    email = normalize_email(email)
    if not allow_once_per("verify-resend", email.lower(), settings.VERIFICATION_RESEND_INTERVAL):
        return
    user = User.objects.filter(email__lower=email.lower(), is_active=True, email_verified=False).first()
    if user is not None:
        with transaction.atomic():
            queue_mail(OutboxMail.Kind.VERIFY_EMAIL, user)


def verify_email(user: User) -> None:
    """Mark the address verified; this also voids every verification link already sent."""
    User.objects.filter(pk=user.pk).update(email_verified=True)
    user.email_verified = True
