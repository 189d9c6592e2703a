"""The one ending shared by every second factor (TOTP, recovery codes, later passkeys).

Each factor keeps its protocol code to itself and, once a check succeeds, calls `complete_factor`:
it forgets the factor's failed attempts (and django-otp's back-off on every authenticator app), writes the audit event and resumes the pending sign-in.
"""

from __future__ import annotations

from accounts.audit import record_event
from accounts.flows.security import warn_if_password_known
from accounts.flows.signin import resume_signin
from accounts.models import SecurityEvent
from identity import ratelimit

from .totp import clear_backoff


def mfa_counters(pending: dict, user) -> tuple[ratelimit.Counter, ...]:
    """Second-factor attempts are counted per pending sign-in and per account."""
    return (("mfa-pending", pending["id"]), ("mfa-account", str(user.pk)))


def complete_factor(request, pending: dict, user, method: str, **facts) -> str:
    """Record an accepted second factor and finish the sign-in, step-up or re-authentication. Returns
    where to send the person."""
    ratelimit.clear(*mfa_counters(pending, user))
    clear_backoff(user)
    kind = SecurityEvent.Kind.REAUTHENTICATED if pending.get("reauth") else SecurityEvent.Kind.MFA_VERIFIED
    record_event(request, kind, user, method=method)
    return resume_signin(request, method, **facts)


def refuse_factor(request, pending: dict, user, method: str) -> None:
    """A refused second step. After a right password the owner sees it and, after a few, is told the
    password is known; at a re-authentication the person is signed in already, so it is marked apart."""
    reauth = bool(pending.get("reauth"))
    record_event(request, SecurityEvent.Kind.MFA_FAILED, user, method=method, reason="reauth" if reauth else "")
    if not reauth:
        warn_if_password_known(request, user)
