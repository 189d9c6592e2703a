"""A person deleting their own account."""

from __future__ import annotations

from django.contrib.auth import logout
from django.db import transaction
from django.utils import translation

from ..models import OutboxMail, SecurityEvent, User
from ..outbox import queue_mail
from .lifecycle import delete_user


def may_delete_itself(user: User) -> bool:
    """Staff and superusers can't delete their own account: another admin must, in the admin, so
    that a stolen admin session cannot erase the admin (and the last superuser cannot vanish)."""
    return not (user.is_staff or user.is_superuser)


def delete_own_account(request) -> None:
    """Delete the signed-in account for good (see lifecycle.delete_user: sessions end, apps are told
    by back-channel logout, their tokens are revoked, the audit trail stays and ends with this
    deletion) and mail the address that it happened. The mail's row names no user (the user's row
    goes), only the address, in the person's language. The caller checked sudo and may_delete_itself."""
    user: User = request.user
    with transaction.atomic(), translation.override(user.language or translation.get_language()):
        queue_mail(OutboxMail.Kind.ACCOUNT_DELETED, None, request=request, to=user.email)
        delete_user(user, request, kind=SecurityEvent.Kind.ACCOUNT_DELETED)
    logout(request)  # its session is gone from Redis already; this one must not be saved back
