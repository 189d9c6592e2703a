"""Admin actions on whole accounts. Each is audited with the admin who did it."""

from __future__ import annotations

from django.db import transaction

from identity import ratelimit

from ..audit import record_event
from ..models import OutboxMail, SecurityEvent, User
from ..outbox import queue_mail
from ..sessions import end_user_sessions
from .signin import end_all_access, lift_password_throttling

Event = SecurityEvent.Kind


def deactivate_user(user: User, request=None, actor: User | None = None) -> None:
    """Refuse all future sign-ins, end every current session and revoke what apps were granted."""
    User.objects.filter(pk=user.pk).update(is_active=False)
    user.is_active = False
    end_all_access(user)
    record_event(request, Event.ADMIN_DEACTIVATED, user, actor=actor)


def reactivate_user(user: User, request=None, actor: User | None = None) -> None:
    User.objects.filter(pk=user.pk).update(is_active=True)
    user.is_active = True
    record_event(request, Event.ADMIN_REACTIVATED, user, actor=actor)


def end_sessions_for(user: User, request=None, actor: User | None = None) -> int:
    ended = end_user_sessions(user.pk)
    record_event(request, Event.ADMIN_SESSIONS_ENDED, user, actor=actor)
    return ended


def send_password_reset(user: User, request=None, actor: User | None = None) -> None:
    with transaction.atomic():
        queue_mail(OutboxMail.Kind.PASSWORD_RESET, user)
        record_event(request, Event.ADMIN_RESET_SENT, user, actor=actor)


def signin_throttle_state(user: User) -> dict[str, int]:
    """Seconds until the account may try a password again, and its consecutive failures so far."""
    account = user.email.lower()
    return {
        "blocked_for": ratelimit.blocked_for(("signin-account", account), ("signin-account-cap", account)),
        "failures": ratelimit.used(("signin-account-cap", account)),
    }


def clear_signin_throttling(user: User, request=None, actor: User | None = None) -> None:
    """Forget the account's password failures, from every address."""
    lift_password_throttling(user.email)
    record_event(request, Event.ADMIN_THROTTLE_CLEARED, user, actor=actor)
