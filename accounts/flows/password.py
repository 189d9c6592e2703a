"""Changing and resetting passwords. Each ends the person's other sessions, revokes what apps were
granted outside the session that made the change, and mails the owner."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import update_session_auth_hash
from django.db import transaction

from identity import ratelimit
from identity.net import client_ip, rate_limit_subject

from ..audit import record_event
from ..devices import forget_devices
from ..models import OutboxMail, SecurityEvent, User, normalize_email
from ..outbox import queue_mail
from .signin import end_all_access, lift_password_throttling, second_factor_requirement_met

Event = SecurityEvent.Kind


def may_change_password(request) -> bool:
    """Whether the password change form may be used now. Its current-password field is the proof for
    an account whose highest level is the password (a re-authentication page first would ask for it
    twice in a row). An account with a second factor must also have proved one within
    REAUTHENTICATION_TIMEOUT: else a stolen session plus the password replaces the password, which signs
    the owner out everywhere and leaves the thief's session and its apps' tokens."""
    return second_factor_requirement_met(request)


def change_password(request, user: User, new_password: str | None, *, actor: User | None = None) -> None:
    """Set a new password (None: password sign-in off), by the person or by an admin (`actor`).

    The person's own session stays signed in (under a new key) with its apps' tokens; every other
    session ends and every other token family is revoked, including those of sessions that already
    idled out: whoever knew the old password may have signed in to an app with it (RFC 9700 4.14).
    """
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        record_event(request, Event.PASSWORD_CHANGED, user, actor=actor, reason="admin" if actor else "")
        facts: dict[str, Any] = {"by_admin": True} if actor else {}
        queue_mail(OutboxMail.Kind.PASSWORD_CHANGED, user, request=request, **facts)
    own = request.user.pk == user.pk
    if own:
        update_session_auth_hash(request, user)
    end_all_access(user, keep_request=request if own else None)


def request_password_reset(request, email: str) -> None:
    """Mail a reset link if the address belongs to an active account; nothing is said either way."""
    email = normalize_email(email)
    ratelimit.hit(("reset-ip", rate_limit_subject(client_ip(request))), ("reset-address", email.lower()))
    # Only the id and address are read: decoding a whole row (dates, the hash) was work the unknown
    # path did not do, a difference an attacker can average out over many requests.
    found = User.objects.filter(email__lower=email.lower(), is_active=True).values_list("pk", "email").first()
    user = User(pk=found[0], email=found[1]) if found else None
    with transaction.atomic():  # the same work either way (see queue_mail): timing reveals nothing
        record_event(request, Event.PASSWORD_RESET_REQUESTED, user)
        queue_mail(OutboxMail.Kind.PASSWORD_RESET, user, request=request)


def complete_password_reset(request, user: User, new_password: str) -> None:
    """Set the new password and end every session. Following the mailed link also proves the address,
    lifts the password throttling of the account (the 100-failure cap ends with a reset), and forgets
    known browsers, so a sign-in from any of them is reported again."""
    with transaction.atomic():
        user.set_password(new_password)
        user.email_verified = True
        user.save(update_fields=["password", "email_verified"])
        record_event(request, Event.PASSWORD_RESET, user)
        forget_devices(user)
        queue_mail(OutboxMail.Kind.PASSWORD_CHANGED, user, request=request)
    end_all_access(user)
    lift_password_throttling(user.email)
