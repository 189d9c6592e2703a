"""What a person sees and does on their security page: sessions, sign-in history, "this wasn't me"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.utils import timezone as django_timezone

from identity import ratelimit
from identity.net import describe_device, describe_families

from ..app_settings import app_settings
from ..audit import record_event
from ..models import OutboxMail, SecurityEvent, User
from ..outbox import queue_mail
from ..sessions import end_session, end_user_sessions, session_id, user_sessions
from ..signin_state import SessionInfo, SigninState, signin_state
from .not_me import undo_other_sessions_events
from .signin import (
    end_all_access,
    recently_authenticated,
    reproves_signin,
    sign_out,
)

Event = SecurityEvent.Kind

# "Recent activity": sign-ins and their failures; a refused second step means the password was right.
SIGNIN_HISTORY = (Event.SIGNIN_SUCCEEDED, Event.SIGNIN_FAILED, Event.SIGNIN_THROTTLED, Event.MFA_FAILED)


@dataclass(frozen=True)
class ActiveSession:
    id: str
    device: str
    ip: str
    signed_in_at: datetime | None
    last_seen: datetime | None
    is_current: bool


def _when(timestamp) -> datetime | None:
    return datetime.fromtimestamp(timestamp, tz=UTC) if timestamp else None


def active_sessions(request) -> list[ActiveSession]:
    """The user's signed-in sessions, this one first, then the most recently used."""
    current = session_id(request.session.session_key) if request.session.session_key else ""
    sessions = []
    for sid, data in user_sessions(request.user.pk).items():
        state = SigninState(data)
        info = state.info or SessionInfo()
        sessions.append(
            ActiveSession(
                id=sid,
                device=describe_device(info.ua),
                ip=info.ip,
                signed_in_at=_when(state.signed_in_at),
                last_seen=_when(info.seen),
                is_current=sid == current,
            )
        )
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(sessions, key=lambda s: (not s.is_current, -(s.last_seen or epoch).timestamp()))


@dataclass(frozen=True)
class HistoryEntry:
    """One line of "Recent sign-in activity": an event, or a run of identical refusals in a row (the
    same kind, reason, method, device and address) as their newest with how many and since when."""

    event: SecurityEvent
    count: int = 1
    earliest: datetime | None = None


def _same_refusal(a: SecurityEvent, b: SecurityEvent) -> bool:
    return a.kind != Event.SIGNIN_SUCCEEDED and (a.kind, a.reason, a.method, a.ip, a.device) == (
        b.kind,
        b.reason,
        b.method,
        b.ip,
        b.device,
    )


def signin_history(user: User, limit: int = 20) -> list[HistoryEntry]:
    """The newest `limit` lines, repeated refusals collapsed: five wrong passwords in a row are one line
    saying so. Sign-ins are never pushed off by refusals, not even by a flood that alternates browsers
    or addresses so that no two in a row are alike: the oldest refusals give way. Reads bounded rows."""
    entries: list[HistoryEntry] = []
    for event in SecurityEvent.objects.filter(user=user, kind__in=SIGNIN_HISTORY)[: limit * 10]:
        last = entries[-1] if entries else None
        if last is not None and _same_refusal(last.event, event):
            entries[-1] = HistoryEntry(last.event, last.count + 1, event.at)
        else:
            entries.append(HistoryEntry(event, 1, event.at))
    listed = {entry.event.pk for entry in entries}
    signins = SecurityEvent.objects.filter(user=user, kind=Event.SIGNIN_SUCCEEDED)[:limit]
    entries += [HistoryEntry(event, 1, event.at) for event in signins if event.pk not in listed]
    entries.sort(key=lambda entry: entry.event.at, reverse=True)
    while len(entries) > limit:
        refusals = [i for i, entry in enumerate(entries) if entry.event.kind != Event.SIGNIN_SUCCEEDED]
        del entries[refusals[-1] if refusals else -1]
    return entries


def is_this_session(request, sid: str) -> bool:
    return bool(request.session.session_key) and sid == session_id(request.session.session_key)


def may_end_session(request) -> bool:
    """Signing out this session is one click. Ending another needs the account's highest level proved
    recently, as "sign out all other sessions" does: else a stolen cookie signs the owner out of each
    of their browsers in turn and keeps the account to itself."""
    return is_this_session(request, request.POST.get("session", "")) or recently_authenticated(request)


def end_one_session(request, sid: str) -> bool:
    """End one of the user's sessions by id. Naming the current one simply signs out."""
    if is_this_session(request, sid):
        sign_out(request)
        return True
    if not end_session(request.user.pk, sid):
        return False
    record_event(request, Event.SESSION_ENDED, request.user)
    return True


def previous_signin(request) -> dict | None:
    """The sign-in before this session's, for "previous sign-in" on the account page: noted once when
    the session began (see complete_signin), so the page every visit lands on costs no query for it."""
    noted = signin_state(request).previous_signin
    if noted is None:
        return None
    device = noted.device if noted.device else describe_families(noted.browser, noted.system)
    return {"at": datetime.fromtimestamp(noted.at, tz=UTC), "device": device, "via": noted.via}


def end_other_sessions(request) -> int:
    ended = end_user_sessions(request.user.pk, keep_session_key=request.session.session_key)
    record_event(request, Event.OTHER_SESSIONS_ENDED, request.user)
    return ended


def report_not_me(request, password: str) -> bool:
    """Undo what the other sessions added within the links' lifetime, live or ended (factors, recovery
    codes, an address change), make the password unusable, forget every known browser, end every
    session, this one too, and mail a reset link: the safe path back for the owner (see
    accounts/flows/not_me.py). Only once this session proves again what it signed in with
    (`reproves_signin`): a copied cookie alone must not strip the factors the owner added elsewhere.
    Returns False, doing nothing, when it does not. May raise RateLimited (the password's limits)."""
    if not reproves_signin(request, password):
        return False
    user = request.user
    undo_other_sessions_events(request, user)
    end_all_access(user)
    sign_out(request)
    return True


def warn_if_password_known(request, user: User) -> None:
    """After a refused second step: once MFA_FAILURE_MAIL_AFTER of them (each after a right password)
    fall within the warning-mail period, tell the owner their password is known (as GitHub and Google
    do); at most one such mail per period, so an attacker cannot mail-bomb them."""
    since = django_timezone.now() - timedelta(seconds=ratelimit.limit_for("warning-mail").period)
    failures = SecurityEvent.objects.filter(user=user, kind=Event.MFA_FAILED, at__gte=since).count()
    if failures >= app_settings.MFA_FAILURE_MAIL_AFTER:
        mail_warning(request, user, OutboxMail.Kind.MFA_FAILURES, failures=failures)


def mail_warning(request, user: User, kind: str, *, topic: str = "", **facts) -> None:
    """A security warning mail, at most one per account and kind (and topic, a warning of its own
    within that kind) per warning-mail period."""
    try:
        ratelimit.hit(("warning-mail", f"{kind}:{topic}:{user.pk}" if topic else f"{kind}:{user.pk}"))
    except ratelimit.RateLimited:
        return
    queue_mail(kind, user, request=request, **facts)
