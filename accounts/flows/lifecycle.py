"""Admin actions on whole accounts. Each is audited with the admin who did it, or with the
provisioning (SCIM) client that did it (`provisioner`, its name), which is no person.

Who may act on whom is decided here too (`may_manage`), for the admin's pages and actions alike.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from identity import ratelimit

from ..audit import record_event
from ..models import OutboxMail, SecurityEvent, User
from ..outbox import queue_mail
from ..sessions import end_user_sessions
from .email import email_changed_by_admin
from .signin import end_all_access, lift_password_throttling

Event = SecurityEvent.Kind


def may_manage(actor: User, user: User) -> bool:
    """Only a superuser may act on a staff or superuser account. Otherwise anyone allowed to edit users
    (a helpdesk account with `change_user`) could take over an administrator: set their address to
    one it reads, mail a reset link there, reset their second factor, and sign in as them."""
    return actor.is_superuser or not (user.is_staff or user.is_superuser)


def manageable(actor: User, users: QuerySet[User]) -> QuerySet[User]:
    """The accounts among `users` that `actor` may act on (see may_manage)."""
    return users if actor.is_superuser else users.filter(is_staff=False, is_superuser=False)


def account_edited_by_admin(request, before: User, after: User, actor: User) -> None:
    """What an admin's save of someone's account sets off beyond the saved fields: a new address is
    a credential change (see email_changed_by_admin), marking the address verified or not is audited,
    and deactivating ends every session and app token just like the list action."""
    if before.email != after.email:
        email_changed_by_admin(request, after, before.email, actor=actor)
    if before.email_verified != after.email_verified:
        kind = Event.EMAIL_VERIFIED if after.email_verified else Event.ADMIN_EMAIL_UNVERIFIED
        record_event(request, kind, after, actor=actor, reason="admin")
    if before.is_active and not after.is_active:
        deactivate_user(after, request, actor=actor)
    elif not before.is_active and after.is_active:
        record_event(request, Event.ADMIN_REACTIVATED, after, actor=actor)


def deactivate_user(user: User, request=None, actor: User | None = None, *, provisioner: str = "") -> None:
    """Refuse all future sign-ins, end every current session and revoke what apps were granted."""
    User.objects.filter(pk=user.pk).update(is_active=False, updated_at=timezone.now())
    user.is_active = False
    end_all_access(user)
    kind = Event.SCIM_DEACTIVATED if provisioner else Event.ADMIN_DEACTIVATED
    record_event(request, kind, user, actor=actor, provisioner=provisioner)


def deactivated_by_an_admin(user: User) -> bool:
    """Was the account's latest deactivation an admin's (not a provisioner's)? A provisioner's sync must
    not undo it: Okta's profile push, for one, sends `active: true` every time."""
    latest = (
        SecurityEvent.objects.filter(
            user=user,
            kind__in=[Event.ADMIN_DEACTIVATED, Event.SCIM_DEACTIVATED, Event.ADMIN_REACTIVATED, Event.SCIM_REACTIVATED],
        )
        .order_by("-at", "-pk")
        .values_list("kind", flat=True)
        .first()
    )
    return not user.is_active and latest == Event.ADMIN_DEACTIVATED


def reactivate_user(user: User, request=None, actor: User | None = None, *, provisioner: str = "") -> None:
    User.objects.filter(pk=user.pk).update(is_active=True, updated_at=timezone.now())
    user.is_active = True
    kind = Event.SCIM_REACTIVATED if provisioner else Event.ADMIN_REACTIVATED
    record_event(request, kind, user, actor=actor, provisioner=provisioner)


def delete_user(user: User, request=None, actor: User | None = None, *, provisioner: str = "", kind: str = "") -> None:
    """Remove the account for good. Everything it could still do ends first, as on deactivation
    (sessions, app tokens), then the row goes; its audit trail stays (SecurityEvent.user is SET_NULL),
    ending with this deletion, which names the account by address and subject since its row is gone;
    events it caused as an admin name it the same way (`former_actor`). `kind`: the deletion's event,
    when neither an admin nor a provisioner deletes (the person themselves)."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False)
        end_all_access(user)
        kind = kind or (Event.SCIM_DELETED if provisioner else Event.ADMIN_DELETED)
        former = f"{user.email} ({user.subject})"
        record_event(request, kind, user, actor=actor, provisioner=provisioner, former_account=former)
        SecurityEvent.objects.filter(user=user, former_account="").update(former_account=former)
        # An admin who leaves is deleted too: what they did to others' accounts must still name them.
        SecurityEvent.objects.filter(actor=user, former_actor="").update(former_actor=former)
        user.delete()


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
