"""Email verification tokens: signed, expiring, and single-use.

The token signs the user id and a fingerprint of (email, verified). Verifying flips the flag, which
changes the fingerprint, so a used link no longer matches; so does a link for an address since changed.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare, salted_hmac

SALT = "accounts.email-verification"


def _fingerprint(user) -> str:
    return salted_hmac(SALT, f"{user.email}\x00{user.email_verified}", algorithm="sha256").hexdigest()[:32]


def make_verification_token(user) -> str:
    return signing.dumps({"u": user.pk, "f": _fingerprint(user)}, salt=SALT, compress=True)


def user_for_verification_token(token: str):
    """The user the token verifies, or None if it is forged, expired, used or stale."""
    from .models import User

    try:
        payload = signing.loads(token, salt=SALT, max_age=settings.EMAIL_VERIFICATION_TIMEOUT)
        user = User.objects.get(pk=payload["u"], is_active=True)
    except (signing.BadSignature, User.DoesNotExist, KeyError, TypeError, ValueError):
        return None
    if not constant_time_compare(payload.get("f", ""), _fingerprint(user)):
        return None
    return user
