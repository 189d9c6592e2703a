"""Driving a SAML sign-on through the Django test client: the requests a browser would make."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import urlsplit


def posted(response) -> dict:
    """The fields of the form our page posts on to the SP (what the browser sends to its ACS)."""
    html = response.content.decode()
    fields = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html)
    return {name: unescape(value) for name, value in fields}


def form_action(response) -> str:
    match = re.search(r'<form method="post" action="([^"]+)"', response.content.decode())
    return unescape(match.group(1)) if match else ""


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def follow(client, url: str):
    """GET `url` and follow our redirects (never the SP's: those leave the site)."""
    response = client.get(local(url))
    while response.status_code in (302, 303) and not response["Location"].startswith("http"):
        response = client.get(response["Location"])
    return response


def sign_on(client, sp, **options):
    """An SP-initiated sign-on over HTTP-Redirect: (request id, our last page)."""
    request_id, url = sp.redirect_request(**options)
    return request_id, follow(client, url)
