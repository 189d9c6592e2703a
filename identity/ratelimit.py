"""Rate limits, atomic on Redis, one round trip per check. Every counter in Identity lives here."""

from __future__ import annotations

import hashlib

from identity.redis import connection


def _key(action: str, identifier: str) -> str:
    # Hashed, so Redis holds no email addresses or IPs in clear.
    return f"rl:{action}:{hashlib.sha256(identifier.encode()).hexdigest()[:32]}"


def allow_once_per(action: str, identifier: str, seconds: int) -> bool:
    """True the first time in each window of `seconds` for this action and identifier."""
    return bool(connection().set(_key(action, identifier), 1, nx=True, ex=seconds))
