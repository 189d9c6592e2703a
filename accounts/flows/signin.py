"""Signing in and out.

Every sign-in ends in `complete_signin`, which rotates the session key and records how the person
authenticated, so later stages (MFA) and the OIDC provider can say how and when.
"""

from __future__ import annotations

import time

from django.contrib.auth import authenticate, login, logout
from django.utils.http import url_has_allowed_host_and_scheme

from ..models import User

SIGNED_IN_AT = "accounts.signed_in_at"
AUTH_METHODS = "accounts.auth_methods"


class SignInRefused(Exception):
    def __init__(self, reason: str, user: User | None = None):
        super().__init__(reason)
        self.reason = reason
        self.user = user


def check_password_signin(request, email: str, password: str) -> User:
    """The password step. One refusal for unknown address, wrong password and inactive account."""
    user = authenticate(request, email=email, password=password)
    if user is None:
        raise SignInRefused("invalid")
    if not user.email_verified:
        # Only said to someone who knows the password, so it does not reveal that the account exists.
        raise SignInRefused("unverified", user)
    return user


def complete_signin(request, user: User, method: str) -> None:
    login(request, user, backend="accounts.backends.EmailBackend")
    now = int(time.time())
    request.session[SIGNED_IN_AT] = now
    request.session[AUTH_METHODS] = [{"method": method, "at": now}]


def sign_out(request) -> None:
    """Log out and delete the session from Redis."""
    logout(request)


def safe_next_url(url: str | None) -> str | None:
    """A `next` target is honoured only when it is a path on this site."""
    if not url or not url.startswith("/") or url.startswith(("//", "/\\")):
        return None
    if not url_has_allowed_host_and_scheme(url, allowed_hosts=set(), require_https=False):
        return None
    return url
