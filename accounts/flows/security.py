"""What a person sees and does on their security page: sessions, sign-in history, "this wasn't me"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from django.db import transaction

from identity.net import describe_device

from ..audit import record_event
from ..devices import forget_devices
from ..models import OutboxMail, SecurityEvent, User
from ..outbox import queue_mail
from ..sessions import end_session, end_user_sessions, session_id, user_sessions
from .signin import PREVIOUS_SIGNIN, SESSION_INFO, SIGNED_IN_AT, end_all_access, sign_out

Event = SecurityEvent.Kind

SIGNIN_HISTORY = (Event.SIGNIN_SUCCEEDED, Event.SIGNIN_FAILED, Event.SIGNIN_THROTTLED)


@dataclass(frozen=True)
class ActiveSession:
    id: str
    device: str
    ip: str
    signed_in_at: datetime | None
    last_seen: datetime | None
    is_current: bool


def _when(timestamp) -> datetime | None:
    return datetime.fromtimestamp(timestamp, tz=timezone.utc) if timestamp else None


def active_sessions(request) -> list[ActiveSession]:
    """The user's signed-in sessions, this one first, then the most recently used."""
    current = session_id(request.session.session_key) if request.session.session_key else ""
    sessions = []
    for sid, data in user_sessions(request.user.pk).items():
        info = data.get(SESSION_INFO, {})
        sessions.append(
            ActiveSession(
                id=sid,
                device=describe_device(info.get("ua", "")),
                ip=info.get("ip", ""),
                signed_in_at=_when(data.get(SIGNED_IN_AT)),
                last_seen=_when(info.get("seen")),
                is_current=sid == current,
            )
        )
    epoch = datetime.min.replace(tzinfo=timezone.utc)
    return sorted(sessions, key=lambda s: (not s.is_current, -(s.last_seen or epoch).timestamp()))


def signin_history(user: User, limit: int = 20):
    return SecurityEvent.objects.filter(user=user, kind__in=SIGNIN_HISTORY)[:limit]


def end_one_session(request, sid: str) -> bool:
    """End one of the user's sessions by id. Naming the current one simply signs out."""
    if request.session.session_key and sid == session_id(request.session.session_key):
        sign_out(request)
        return True
    if not end_session(request.user.pk, sid):
        return False
    record_event(request, Event.SESSION_ENDED, request.user)
    return True


def previous_signin(request) -> dict | None:
    """The sign-in before this session's, for "previous sign-in" on the account page: noted once when
    the session began (see complete_signin), so the page every visit lands on costs no query for it."""
    noted = request.session.get(PREVIOUS_SIGNIN)
    if not noted:
        return None
    return {"at": datetime.fromtimestamp(noted["at"], tz=timezone.utc), "device": noted["device"]}


def end_other_sessions(request) -> int:
    ended = end_user_sessions(request.user.pk, keep_session_key=request.session.session_key)
    record_event(request, Event.OTHER_SESSIONS_ENDED, request.user)
    return ended


def report_not_me(request) -> None:
    """End every session, this one too, forget every known browser (an intruder's among them), and
    mail a reset link: the safe path back for the owner."""
    user = request.user
    with transaction.atomic():
        record_event(request, Event.NOT_ME, user)
        forget_devices(user)
        queue_mail(OutboxMail.Kind.PASSWORD_RESET, user, request=request)
    end_all_access(user)
    sign_out(request)
