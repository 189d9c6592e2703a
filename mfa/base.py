"""The one ending shared by every second factor (TOTP, recovery codes, later passkeys).

Each factor keeps its protocol code to itself and, once a check succeeds, calls `complete_factor`:
it forgets the factor's failed attempts (the code caps, and django-otp's back-off on every authenticator
app), writes the audit event and resumes the pending sign-in. Codes are counted here too, up to a cap.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from accounts.audit import record_event
from accounts.flows.security import mail_warning, warn_if_password_known
from accounts.flows.signin import resume_signin
from accounts.models import OutboxMail, SecurityEvent
from accounts.signin_state import PendingSignin
from identity import ratelimit

from . import recovery, totp
from .totp import clear_backoff


def mfa_counters(pending: PendingSignin, user) -> tuple[ratelimit.Counter, ...]:
    """Second-factor attempts are counted per pending sign-in and per account."""
    return (("mfa-pending", pending.id), ("mfa-account", str(user.pk)))


# Factors proved by typing a code: an authenticator app's, or a recovery code.
CODE_METHODS = ("otp", "recovery")


def code_cap(user, method: str) -> ratelimit.Counter:
    """NIST SP 800-63B: at most 100 consecutive failed attempts on one account, for OTP authenticators
    too; the time-based limits alone let a password thief try about 96 app codes a day for ever. One
    cap per kind of code, so a capped authenticator app still leaves the recovery codes (and the other
    way round); passkeys, which cannot be guessed, are never capped. Only a proved factor or an
    admin's reset lifts it: a password reset does not, or a mailbox thief would get 100 more each."""
    return ("mfa-account-cap", f"{method}:{user.pk}")


def code_caps(user) -> tuple[ratelimit.Counter, ...]:
    return tuple(code_cap(user, method) for method in CODE_METHODS)


def codes_capped(user, method: str) -> bool:
    return bool(ratelimit.blocked_for(code_cap(user, method)))


def check_code(request, pending: PendingSignin, user, method: str, code: str):
    """Count one code attempt, then check it (counted first, so parallel guesses cannot slip past):
    the authenticator app that accepts it, whether a recovery code was right. A refused attempt raises
    RateLimited, audited for this account; past the cap (`past_code_cap`) no code of this kind is
    checked any more, and the owner is mailed how to get back in."""
    try:
        ratelimit.hit(*mfa_counters(pending, user), code_cap(user, method))
        return recovery.use(user, code) if method == "recovery" else totp.verify_code(user, code)
    except ratelimit.RateLimited as throttled:
        capped = past_code_cap(throttled)
        if capped:
            warn_codes_capped(request, user, method)
        audit = ratelimit.Audit(SecurityEvent.Kind.THROTTLED, user, method, "mfa_capped" if capped else "mfa")
        raise throttled.saying(_("Too many attempts. Please wait %(wait)s before trying again."), audit=audit) from None


def past_code_cap(refused: ratelimit.RateLimited) -> bool:
    """Whether the code cap refused the attempt rather than a time-based limit: waiting will not help."""
    return refused.limits[:1] == ("mfa-account-cap",)


def forget_factor_failures(user) -> None:
    """A factor was proved (or an admin reset them all): the owner is back, so the code caps start over
    and their authenticator apps need not wait out a back-off an attacker may have run up."""
    ratelimit.clear(*code_caps(user))
    clear_backoff(user)


def complete_factor(request, pending: PendingSignin, user, method: str, **facts) -> str:
    """Record an accepted second factor and finish the sign-in, step-up or re-authentication. Returns
    where to send the person."""
    ratelimit.clear(*mfa_counters(pending, user))
    forget_factor_failures(user)
    kind = SecurityEvent.Kind.REAUTHENTICATED if pending.reauth else SecurityEvent.Kind.MFA_VERIFIED
    record_event(request, kind, user, method=method)
    return resume_signin(request, method, **facts)


def refuse_factor(request, pending: PendingSignin, user, method: str) -> None:
    """A refused second step. After a right password the owner sees it and, after a few, is told the
    password is known; at a re-authentication the person is signed in already, so it is marked apart."""
    reauth = pending.reauth
    record_event(request, SecurityEvent.Kind.MFA_FAILED, user, method=method, reason="reauth" if reauth else "")
    if not reauth:
        warn_if_password_known(request, user)
    if method in CODE_METHODS and codes_capped(user, method):
        warn_codes_capped(request, user, method)


def warn_codes_capped(request, user, method: str) -> None:
    """Tell the owner this kind of code is refused now, and how to get back in (section 3's warning
    mail, with its own once-an-hour budget so the password warning does not swallow it)."""
    failures = ratelimit.limit_for("mfa-account-cap").count
    mail_warning(
        request, user, OutboxMail.Kind.MFA_FAILURES, topic=f"capped-{method}", failures=failures, capped=method
    )
