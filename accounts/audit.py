"""Writing the audit trail. One INSERT per event, in the request; nothing secret is ever passed in."""

from __future__ import annotations

from identity.net import client_ip

from .models import SecurityEvent, User
from .sessions import session_id


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
) -> SecurityEvent:
    return SecurityEvent.objects.create(
        kind=kind, user=user, method=method, reason=reason, actor=actor, **request_facts(request)
    )
