"""Mailed links: the token moves from the URL into a short-lived cookie before any page is shown.

The token then never leaves in a Referer header, and a GET changes nothing (a confirming click does).
It waits in an HttpOnly, SameSite=Lax (the click comes from a mail client: another site) cookie, never
in the session: a link, even a valid one (say, from the attacker's own sign-up mail), opened again
and again from fresh browsers would otherwise create a Redis session each time. Junk links get the
invalid page and no cookie.
"""

from __future__ import annotations

from django.core import signing
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from identity.cookies import delete_private_cookie, private_cookie, set_private_cookie

LINK_COOKIE_AGE = 30 * 60  # time to read the confirmation page (and sign in first, for an email change)


def keep_link_token(response: HttpResponse, cookie: str, token: str) -> HttpResponse:
    return set_private_cookie(response, cookie, token, max_age=LINK_COOKIE_AGE)


def kept_link_token(request, cookie: str) -> str:
    """The token a link left in this browser ("" if none): still to be checked by its reader."""
    return private_cookie(request, cookie)


def forget_link_token(response: HttpResponse, cookie: str) -> HttpResponse:
    return delete_private_cookie(response, cookie)


def stash_link_token(cookie: str, confirm_url_name: str, salt: str, invalid_template: str):
    """A view for a mailed link: it keeps the token in `cookie` and redirects to a token-free
    confirmation page. Only a token carrying this site's signature gets that far."""

    @never_cache
    @require_GET
    def view(request, token: str):
        try:
            signing.loads(token, salt=salt)
        except signing.BadSignature:
            return render(request, invalid_template, status=400)
        return keep_link_token(redirect(confirm_url_name), cookie, token)

    return view
