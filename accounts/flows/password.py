"""Changing and resetting passwords. Both end the user's other sessions and mail the owner."""

from __future__ import annotations

from django.contrib.auth import update_session_auth_hash
from django.db import transaction

from ..models import OutboxMail, User, normalize_email
from ..outbox import queue_mail
from ..sessions import end_user_sessions


def change_password(request, user: User, new_password: str) -> None:
    """Set a new password; this session stays signed in (under a new key), every other one ends."""
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        queue_mail(OutboxMail.Kind.PASSWORD_CHANGED, user)
    update_session_auth_hash(request, user)
    end_user_sessions(user.pk, keep_session_key=request.session.session_key)


def request_password_reset(email: str) -> None:
    """Mail a reset link if the address belongs to an active account; nothing is said either way."""
    email = normalize_email(email)
    user = User.objects.filter(email__lower=email.lower(), is_active=True).first()
    if user is not None:
        with transaction.atomic():
            queue_mail(OutboxMail.Kind.PASSWORD_RESET, user)


def complete_password_reset(user: User, new_password: str) -> None:
    """Set the new password and end every session. Following the mailed link also proves the address."""
    with transaction.atomic():
        user.set_password(new_password)
        user.email_verified = True
        user.save(update_fields=["password", "email_verified"])
        queue_mail(OutboxMail.Kind.PASSWORD_CHANGED, user)
    end_user_sessions(user.pk)
