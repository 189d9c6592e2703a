"""Email verification and email-change tokens: signed, expiring, and single-use; and the one-time
codes mailed to an account past its password cap (flows/signin_code.py).

A token signs the user id and a fingerprint of (email, verified). Verifying flips the flag and changing
the address changes the email, either of which changes the fingerprint: a used link no longer matches,
and neither does one minted before the address changed.
"""

from __future__ import annotations

import secrets

from django.core import signing
from django.core.cache import cache
from django.utils.crypto import constant_time_compare, salted_hmac

from .app_settings import app_settings
from .models import CredentialEvent, User

SALT = "accounts.email-verification"
EMAIL_CHANGE_SALT = "accounts.email-change"


def _fingerprint(user) -> str:
    return salted_hmac(SALT, f"{user.email}\x00{user.email_verified}", algorithm="sha256").hexdigest()[:32]


def _load(token: str, salt: str):
    """(user, payload) for a genuine, unexpired, current token; None otherwise."""
    try:
        payload = signing.loads(token, salt=salt, max_age=app_settings.EMAIL_VERIFICATION_TIMEOUT)
        user = User.objects.get(pk=payload["u"], is_active=True)
    except (signing.BadSignature, User.DoesNotExist, KeyError, TypeError, ValueError):
        return None
    if not constant_time_compare(str(payload.get("f", "")), _fingerprint(user)):
        return None
    return user, payload


def make_verification_token(user) -> str:
    return signing.dumps({"u": user.pk, "f": _fingerprint(user)}, salt=SALT, compress=True)


def user_for_verification_token(token: str):
    """The user the token verifies, or None if it is forged, expired, used or stale."""
    loaded = _load(token, SALT)
    return loaded[0] if loaded else None


def user_already_verified_by_token(token: str):
    """The user a verification link was for, if that link was genuine for the account's current address
    and the address has since been verified (opened again after use); None otherwise, so that a forged
    or foreign token learns nothing. Its age does not matter: the account is verified either way."""
    try:
        payload = signing.loads(token, salt=SALT)
        user = User.objects.get(pk=payload["u"], is_active=True, email_verified=True)
    except (signing.BadSignature, User.DoesNotExist, KeyError, TypeError, ValueError):
        return None
    as_minted = User(email=user.email, email_verified=False)
    if not constant_time_compare(str(payload.get("f", "")), _fingerprint(as_minted)):
        return None
    return user


def make_email_change_token(user, new_email: str) -> str:
    return signing.dumps({"u": user.pk, "e": new_email, "f": _fingerprint(user)}, salt=EMAIL_CHANGE_SALT)


def read_email_change_token(token: str):
    """(user, new address) for a valid token, or None if it is forged, expired, used or stale."""
    loaded = _load(token, EMAIL_CHANGE_SALT)
    if not loaded or not isinstance(loaded[1].get("e"), str):
        return None
    return loaded[0], loaded[1]["e"]


NOT_ME_SALT = "accounts.not-me"


def make_not_me_token(event) -> str:
    """The "This wasn't me" link of a credential event: it names the event and its owner."""
    return signing.dumps({"e": event.pk, "u": event.user_id}, salt=NOT_ME_SALT)


def read_not_me_token(token: str):
    """The unused credential event a link names, or None if it is forged, expired or used. Single use
    is the row's `used_at`, so undoing an event voids every copy of its link."""
    try:
        payload = signing.loads(token, salt=NOT_ME_SALT, max_age=app_settings.NOT_ME_LINK_TIMEOUT)
        return (
            CredentialEvent.objects.select_related("user")
            .filter(pk=int(payload["e"]), user_id=int(payload["u"]), used_at__isnull=True, user__is_active=True)
            .first()
        )
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


SIGNIN_CODE_DIGITS = 8


def _signin_code_key(pending_id: str) -> str:
    return "signin-code:" + salted_hmac("accounts.signin-code-key", pending_id, algorithm="sha256").hexdigest()[:32]


def _signin_code_hash(pending_id: str, user_id: int, code: str) -> str:
    return salted_hmac("accounts.signin-code", f"{pending_id}\x00{user_id}\x00{code}", algorithm="sha256").hexdigest()


def mint_signin_code(pending_id: str, user) -> str:
    """A new code for one waiting sign-in (a session that gave the right password), minted when the
    mail is rendered so the outbox row holds no secret. Only a keyed hash is kept, in Redis, for
    SIGNIN_CODE_TIMEOUT; a new code for the same sign-in replaces the old one."""
    code = "".join(secrets.choice("0123456789") for _ in range(SIGNIN_CODE_DIGITS))
    cache.set(
        _signin_code_key(pending_id), _signin_code_hash(pending_id, user.pk, code), app_settings.SIGNIN_CODE_TIMEOUT
    )
    return code


def take_signin_code(pending_id: str, user_id: int, code: str) -> bool:
    """Spend the code of this waiting sign-in. Deleting the key decides, so two requests with the same
    code cannot both succeed."""
    key = _signin_code_key(pending_id)
    stored = cache.get(key)
    if not stored or not constant_time_compare(stored, _signin_code_hash(pending_id, user_id, code)):
        return False
    return bool(cache.delete(key))
