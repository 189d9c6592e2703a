"""Going through an upstream sign-in the way a browser does: our start, the provider, our callback."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import requests
from django.test import Client


def to_provider(browser: Client, slug: str = "acme", next_url: str | None = None) -> str:
    """Start the sign-in; the provider's authorization URL it redirects to."""
    started = browser.get(f"/accounts/federation/{slug}/", {"next": next_url} if next_url else {})
    assert started.status_code == 302, started
    return started["Location"]


def at_provider(authorization_url: str) -> str:
    """The provider approves: the callback path (with its query) it sends the browser back to."""
    answer = requests.get(authorization_url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    callback = urlsplit(answer.headers["Location"])
    return f"{callback.path}?{callback.query}"


def sign_in_through(browser: Client, slug: str = "acme", next_url: str | None = None):
    """The whole round trip; our callback's response."""
    return browser.get(at_provider(to_provider(browser, slug, next_url)))


def signed_in_as(browser: Client):
    """The account this browser's session is signed in to, or None."""
    from accounts.models import User

    user_id = browser.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def provider_url(started) -> str:
    """Where a start sends the browser: a redirect (a sign-in's link), or after a form's POST (confirm,
    link) a page that goes on by itself, whose link says where."""
    if started.status_code == 302:
        return started["Location"]
    assert started.status_code == 200, started
    found = re.search(r'<a href="([^"]+)" data-continue>', started.content.decode())
    assert found, started.content.decode()[:2000]
    return html.unescape(found.group(1))


def round_trip(browser: Client, started):
    """From a start's answer through the provider to our callback's answer."""
    return browser.get(at_provider(provider_url(started)))


def confirm_with(browser: Client, slug: str = "acme", next_url: str = "/accounts/security/"):
    """ "Confirm with <provider>" on the re-authentication page, the whole round trip."""
    return round_trip(browser, browser.post(f"/accounts/federation/{slug}/confirm/", {"next": next_url}))


def link_through(browser: Client, slug: str = "acme"):
    """ "Link <provider>" on the security page, the whole round trip (the session confirmed recently)."""
    return round_trip(browser, browser.post(f"/accounts/federation/{slug}/link/"))
