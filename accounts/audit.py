"""Writing the audit trail. One INSERT per event, in the request; nothing secret is ever passed in."""

from __future__ import annotations

from identity import ratelimit
from identity.metrics import MFA_CHECKS, SIGNINS
from identity.net import client_ip, rate_limit_subject

from .models import CredentialEvent, SecurityEvent, User
from .sessions import session_id
from .signin_state import SigninState


def request_facts(request) -> dict:
    """Where a request came from, as stored with events and shown in security mail."""
    if request is None:
        return {}
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    return {
        "ip": client_ip(request),
        "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
        "session_ref": session_id(session_key)[:16] if session_key else "",
    }


def record_event(
    request,
    kind: str,
    user: User | None = None,
    *,
    method: str = "",
    reason: str = "",
    actor: User | None = None,
    provisioner: str = "",
    former_account: str = "",
) -> SecurityEvent:
    """`provisioner`: the SCIM client that acted (by name), when no admin did; `former_account`: who
    the event is about, for an account about to be deleted (its row, hence `user`, goes)."""
    count_event(kind, method, reason)
    return SecurityEvent.objects.create(
        kind=kind,
        user=user,
        method=method,
        reason=reason,
        actor=actor,
        provisioner=provisioner[:150],
        former_account=former_account[:300],
        **request_facts(request),
    )


def metric_method(method: str) -> str:
    """The sign-in metrics' `method` label for the factors recorded ("fed+otp"): how the sign-in began."""
    if method.startswith("fed"):
        return "federation"
    return "passkey" if "passkey" in method else "password"


def count_event(kind: str, method: str, reason: str) -> None:
    Kind = SecurityEvent.Kind
    signin_method = metric_method(method)
    if kind == Kind.SIGNIN_SUCCEEDED:
        SIGNINS.labels(signin_method, "success").inc()
    elif kind == Kind.SIGNIN_FAILED and signin_method == "federation":
        SIGNINS.labels(signin_method, "refused").inc()  # why: federation's own refusal counter
    elif kind == Kind.SIGNIN_FAILED:
        SIGNINS.labels(signin_method, "unverified" if reason == "unverified" else "bad_credentials").inc()
    elif kind == Kind.MFA_VERIFIED:
        MFA_CHECKS.labels(method, "success").inc()
    elif kind == Kind.MFA_FAILED:
        MFA_CHECKS.labels(method, "failure").inc()
        if reason != "reauth":  # a refused re-authentication is no failed sign-in
            SIGNINS.labels("password", "mfa_failed").inc()


def record_throttled(request, kind: str, user: User | None = None, **fields) -> None:
    """Record a refused (throttled) attempt, but only a bounded number per client address, so an
    attacker who is being turned away cannot grow the audit table one row per request."""
    if kind == SecurityEvent.Kind.SIGNIN_THROTTLED:
        SIGNINS.labels(metric_method(fields.get("method", "")), "throttled").inc()
    try:
        ratelimit.hit(("audit-throttled", rate_limit_subject(client_ip(request))))
    except ratelimit.RateLimited:
        return
    record_event(request, kind, user, **fields)


def record_credential_event(request, user: User, kind: str, *, told: str | None = None, **added) -> CredentialEvent:
    """Note a credential change (in the transaction that makes it) for the "This wasn't me" link of the
    mail that tells its owner: what it added, the session that made it, and the address the mail goes
    to (`told`, the account's address unless said otherwise)."""
    session = getattr(request, "session", None)
    ref = SigninState(session).ref if session is not None else ""
    return CredentialEvent.objects.create(
        user=user, kind=kind, added=added, session_ref=ref, told=user.email if told is None else told
    )
