"""Short-lived private cookies: state a browser carries for a moment so that Redis need not.

Anonymous visitors must not be able to fill Redis, so what a not-yet-signed-in browser needs to carry
between two requests (a passkey challenge, a mailed link's token, which authorization request asked
for a fresh sign-in) rides in a cookie like these: HttpOnly, Path=/, and outside development Secure
and `__Host-` prefixed (no sibling site can set or read it). Values that must not be made up are
signed by their owners (django.core.signing with a salt of their own).
"""

from __future__ import annotations

from typing import Any, Literal

from django.conf import settings
from django.core import signing
from django.http import HttpResponse

SameSite = Literal["Lax", "Strict", "None"]


def cookie_name(name: str) -> str:
    return f"__Host-{name}" if settings.SESSION_COOKIE_SECURE else name


def set_private_cookie(
    response: HttpResponse, name: str, value: str, *, max_age: int, samesite: SameSite = "Lax"
) -> HttpResponse:
    response.set_cookie(
        cookie_name(name),
        value,
        max_age=max_age,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite=samesite,
    )
    return response


def private_cookie(request, name: str) -> str:
    return request.COOKIES.get(cookie_name(name), "")


def delete_private_cookie(response: HttpResponse, name: str, samesite: SameSite = "Lax") -> HttpResponse:
    response.delete_cookie(cookie_name(name), samesite=samesite)
    return response


def set_signed_cookie(response: HttpResponse, name: str, value: Any, *, salt: str, max_age: int) -> HttpResponse:
    """A private cookie holding `value` signed under its owner's `salt`, timed by `max_age`: read back
    with `signed_cookie`, which checks the age itself, whatever the browser keeps."""
    return set_private_cookie(response, name, signing.dumps(value, salt=salt), max_age=max_age)


def signed_cookie(request, name: str, *, salt: str, max_age: int) -> Any:
    """What `set_signed_cookie` stored, or None when the cookie is absent, made up, edited or too old."""
    value = private_cookie(request, name)
    if not value:
        return None
    try:
        return signing.loads(value, salt=salt, max_age=max_age)
    except signing.BadSignature:
        return None
