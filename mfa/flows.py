"""Adding, removing and resetting second factors. Each change is audited and mailed to the owner."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.audit import record_credential_event, record_event
from accounts.flows.signin import end_all_access
from accounts.models import CredentialEvent, OutboxMail, SecurityEvent
from accounts.outbox import queue_mail
from accounts.stages import must_have_mfa

from . import recovery, totp
from .base import forget_factor_failures
from .policy import has_second_factor, passkeys, totp_devices
from .stages import MFA_ENROLMENT_REQUIRED

Event = SecurityEvent.Kind


class LastFactorRequired(Exception):
    """Removing this factor would leave someone who must use MFA without one."""


def _tell(request, user, event: str, change: str, actor=None, credential_event: CredentialEvent | None = None) -> None:
    """Audit a change and mail the owner; a mail about something added carries its "This wasn't me" link."""
    record_event(request, event, user, actor=actor)
    facts: dict[str, Any] = {"event": credential_event.pk} if credential_event else {}
    queue_mail(OutboxMail.Kind.MFA_CHANGED, user, request=request, change=change, **facts)


def factor_added(request, method: str, change: str, first: bool, factor) -> list[str] | None:
    """The shared end of adding any second factor (`factor`, the new row), inside its transaction:
    recovery codes if it is the first, the audit event and the owner's mail with a link that undoes
    exactly this (the factor and those codes); it lifts a required enrolment. The new factor does not
    count for this session (amr, acr, admin, re-authentication): enrolling it proves nothing about who
    holds the session, since a stolen session plus the password could enrol one. It counts once it is
    used at a sign-in, a step-up or a re-authentication. Returns the new recovery codes, if any."""
    user = request.user
    codes = recovery.generate(user) if first else None
    added: dict[str, Any] = {method: [factor.pk], **({"recovery": recovery.code_ids(user)} if codes else {})}
    credential_event = record_credential_event(request, user, CredentialEvent.Kind.FACTOR_ADDED, **added)
    _tell(request, user, Event.MFA_ADDED, change, credential_event=credential_event)
    if codes:
        record_event(request, Event.RECOVERY_CODES_GENERATED, user)
    request.session.pop(MFA_ENROLMENT_REQUIRED, None)
    return codes


def enrol_totp(request, name: str, secret_hex: str, last_t: int) -> list[str] | None:
    """Add an authenticator app. Returns new recovery codes when this is the first second factor."""
    with transaction.atomic():
        first = not has_second_factor(request.user)
        device = totp.create_device(request.user, name, secret_hex, last_t)
        return factor_added(request, "otp", "totp_added", first, device)


def remove_second_factor(request, own, factor_id: int, change: str, *, user=None, actor=None) -> bool:
    """Remove one of the user's second factors (`own`: their TOTP devices or their passkeys); False if
    it is not theirs. The last second factor of someone who must have MFA cannot be removed; without
    any factor left, the recovery codes go too. `user` and `actor`: an admin removing someone's factor
    (the same rules, audited with the admin); otherwise the person removes their own."""
    user = user or request.user
    with transaction.atomic():
        # Lock every factor of the user: two parallel removals must not both see "one left after me".
        remaining = len(list(totp_devices(user).select_for_update())) + len(list(passkeys(user).select_for_update()))
        factor = own.filter(pk=factor_id).first()
        if factor is None:
            return False
        if must_have_mfa(user) and remaining == 1:
            raise LastFactorRequired
        factor.delete()
        if not has_second_factor(user):
            recovery.discard(user)
        _tell(request, user, Event.MFA_REMOVED, change, actor=actor)
    return True


def remove_totp(request, device_id: int) -> bool:
    return remove_second_factor(request, totp_devices(request.user), device_id, "totp_removed")


def regenerate_recovery_codes(request) -> list[str]:
    with transaction.atomic():
        codes = recovery.generate(request.user)
        credential_event = record_credential_event(
            request, request.user, CredentialEvent.Kind.RECOVERY_CODES, recovery=recovery.code_ids(request.user)
        )
        _tell(
            request,
            request.user,
            Event.RECOVERY_CODES_GENERATED,
            "recovery_regenerated",
            credential_event=credential_event,
        )
    return codes


def remove_disowned_factors(request, user, added: dict) -> None:
    """The owner followed "This wasn't me": remove the factors and recovery codes the event added, even
    the last factor of someone who must have MFA (they set one up again at their next sign-in, so they
    are never asked for one they cannot have). The owner's other factors stay."""
    removed = totp_devices(user).filter(pk__in=added.get("otp", [])).delete()[0]
    removed += passkeys(user).filter(pk__in=added.get("passkey", [])).delete()[0]
    recovery.discard(user, added.get("recovery", []))
    if not has_second_factor(user):
        recovery.discard(user)
    if removed:
        record_event(request, Event.MFA_REMOVED, user, reason="not_me")


def reset_mfa(user, request=None, actor=None) -> None:
    """Admin: remove every second factor and recovery code, end all access, tell the owner.

    A reset is what an admin does when a factor was lost or stolen, so whoever holds it may also
    hold sessions and app tokens (also of sessions that idled out): every one ends, as on
    deactivation (`end_all_access`), not only the live sessions. The code caps start over with the
    factors set up afresh."""
    with transaction.atomic():
        totp_devices(user).delete()
        passkeys(user).delete()
        recovery.discard(user)
        _tell(request, user, Event.ADMIN_MFA_RESET, "admin_reset", actor=actor)
    end_all_access(user)
    forget_factor_failures(user)
