""" "Download my data": what the service holds about a person, as one JSON document.

accounts writes its own parts (profile, sessions, known browsers, the audit trail); the other apps
add theirs in their AppConfig.ready() with `add_data_part` (mfa its factors, the OIDC provider the apps
let in, SAML the apps signed on to, federation the linked providers, the directory groups and roles),
so accounts imports none of them. Every part lists facts, never a secret: no password or recovery-code
hash, no TOTP key or passkey public key, no session key or token.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from identity.net import describe_device

from .models import SecurityEvent, User
from .sessions import user_sessions
from .signin_state import SessionInfo, SigninState

DataPart = Callable[[User], Any]

_parts: dict[str, DataPart] = {}


def add_data_part(name: str, collect: DataPart) -> None:
    """`collect(user)` returns the JSON-ready facts stored under `name` in the download."""
    _parts[name] = collect


def when(value: datetime | int | float | None) -> str | None:
    """A time as ISO 8601 in UTC (a datetime or a Unix timestamp), or None."""
    if value is None or value == 0:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(value, tz=UTC)
    return value.astimezone(UTC).isoformat()


def account_data(user: User) -> dict[str, Any]:
    """The whole download: when and for whom it was made, then every part by name."""
    data: dict[str, Any] = {"service": settings.SITE_NAME, "exported_at": when(datetime.now(tz=UTC))}
    for name, collect in sorted(_parts.items()):
        data[name] = collect(user)
    return data


def profile(user: User) -> dict[str, Any]:
    return {
        "email": user.email,
        "email_verified": user.email_verified,
        "name": user.display_name,
        "language": user.language,
        "subject": str(user.subject),
        "joined_at": when(user.date_joined),
        "last_sign_in_at": when(user.last_login),
        "updated_at": when(user.updated_at),
        "has_password": user.has_usable_password(),
    }


def sessions(user: User) -> list[dict[str, Any]]:
    """The signed-in sessions by device, address and times; never their keys or ids."""
    rows = []
    for data in user_sessions(user.pk).values():
        state = SigninState(data)
        info = state.info or SessionInfo()
        rows.append(
            {
                "device": describe_device(info.ua),
                "user_agent": info.ua,
                "ip": info.ip,
                "signed_in_at": when(state.signed_in_at),
                "last_seen_at": when(info.seen),
                "signed_in_with": sorted(state.signin_methods()),
            }
        )
    return sorted(rows, key=lambda row: row["signed_in_at"] or "", reverse=True)


def known_browsers(user: User) -> list[dict[str, Any]]:
    return [
        {
            "device": describe_device(device.user_agent),
            "first_seen_at": when(device.first_seen),
            "last_seen_at": when(device.last_seen),
        }
        for device in user.known_devices.order_by("-last_seen")
    ]


def activity(user: User) -> list[dict[str, Any]]:
    """The account's audit trail: sign-ins and their failures, and every change, the latest first."""
    return [
        {
            "at": when(event.at),
            "event": event.kind,
            "description": str(event.get_kind_display()),
            "method": event.method,
            "details": event.details,
            "ip": event.ip,
            "device": event.device,
        }
        for event in SecurityEvent.objects.filter(user=user).order_by("-at", "-pk")
    ]


add_data_part("profile", profile)
add_data_part("sessions", sessions)
add_data_part("known_browsers", known_browsers)
add_data_part("activity", activity)
