"""Refresh-token rotation in the few statements it needs (issue 18).

django-oauth-toolkit rotates a refresh token in about twenty statements: it reads the token three
times, the old access token twice, locks both, revokes and deletes through the ORM's collector, and
loads the ID token it has just signed back from the database. Most of the grant's CPU went into
compiling those queries. oauthlib still runs the grant (client authentication, scope narrowing, the
ID token); the validator asks this module for the two steps that touch the tokens:

- `find`: the presented token with its access token, person and token family, in one query;
- `spend`: the old token revoked and its access token deleted, only if no one else spent it first
  (one conditional UPDATE decides a race between two requests presenting the same token; the loser
  is treated as a replay).

The semantics are DOT's with a grace period of 0 (REFRESH_TOKEN_GRACE_PERIOD_SECONDS): a token comes
back after it was spent, so the whole family is revoked (RefreshToken.revoke_family, as before).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from . import rows
from .models import TokenFamily


class Replayed(Exception):
    """The token was spent by another request between reading and spending it: its family must end."""

    def __init__(self, family):
        super().__init__(family)
        self.family = family


@dataclass
class Found:
    token: object  # the RefreshToken, with .access_token and .user set (None where there is none)
    family: TokenFamily | None


RefreshToken, AccessToken, User = get_refresh_token_model(), get_access_token_model(), get_user_model()

_FIND = rows.Reader(
    [("rt", RefreshToken), ("at", AccessToken), ("u", User), ("f", TokenFamily)],
    f"{rows.table(RefreshToken)} rt LEFT JOIN {rows.table(AccessToken)} at ON at.id = rt.access_token_id"
    f" JOIN {rows.table(User)} u ON u.id = rt.user_id"
    f" LEFT JOIN {rows.table(TokenFamily)} f ON f.family = rt.token_family",
    # Several rows may share a checksum (unique is (checksum, revoked)): the live one, else the latest.
    "WHERE rt.token_checksum = %s ORDER BY rt.revoked IS NOT NULL, rt.revoked DESC LIMIT 1",
)


def find(value: str) -> Found | None:
    """The refresh token with this value, whatever its state, or None."""
    found = _FIND.one([hashlib.sha256(value.encode()).hexdigest()])
    if found is None:
        return None
    token, access_token, user, family = found
    token.access_token = access_token
    token.user = user
    return Found(token, family)


def spend(token) -> bool:
    """Revoke this refresh token and delete its access token, as DOT's RefreshToken.revoke() does, if it
    is still live. False when it was spent meanwhile (a concurrent request with the same token won)."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {rows.table(RefreshToken)} SET revoked = %s, updated = %s, access_token_id = NULL"  # noqa: S608
            " WHERE id = %s AND revoked IS NULL",
            [now, now, token.pk],
        )
        if cursor.rowcount != 1:
            return False
        if token.access_token_id is not None:
            # What the ORM's collector would do: the rows pointing at the access token let go of it.
            cursor.execute(
                f"UPDATE {rows.table(TokenFamily)} SET access_token_id = NULL WHERE access_token_id = %s",  # noqa: S608
                [token.access_token_id],
            )
            cursor.execute(f"DELETE FROM {rows.table(AccessToken)} WHERE id = %s", [token.access_token_id])  # noqa: S608
    token.revoked, token.access_token_id = now, None
    return True
