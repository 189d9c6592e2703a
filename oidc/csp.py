"""Let a form post end at the relying app. Browsers apply CSP's `form-action` to every redirect that
follows a form submission, so with `form-action 'self'` the redirect back to the app after sign-in,
a second factor, consent or logout would be blocked. Pages that lead there allow exactly the app's
registered redirect origin, found from the authorization request they belong to; nothing else."""

from __future__ import annotations

from functools import cache
from urllib.parse import parse_qs, urlsplit

from django.urls import reverse

from accounts.signin_state import SigninState

from .models import Client


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


@cache
def _path(name: str) -> str:
    """Asked on every page: reverse() costs more than the rest of the look-up, and the URLs never change."""
    return reverse(name)


def _client(client_id: str) -> Client | None:
    # No client has a NUL in its id, and PostgreSQL refuses to compare one (a 500 on any page a link
    # with one leads to).
    if not client_id or "\x00" in client_id:
        return None
    return Client.objects.filter(client_id=client_id).first()


def _authorization_origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.path != _path("oauth2_provider:authorize"):
        return None
    query = parse_qs(parts.query)
    client_id, redirect_uri = query.get("client_id", [""])[0], query.get("redirect_uri", [""])[0]
    client = _client(client_id) if redirect_uri else None
    if client is None or not client.redirect_uri_allowed(redirect_uri):
        return None
    return _origin(redirect_uri)


def _logout_origin(request) -> str | None:
    uri = request.GET.get("post_logout_redirect_uri") or request.POST.get("post_logout_redirect_uri")
    client_id = request.GET.get("client_id") or request.POST.get("client_id")
    if not uri or not client_id:
        return None
    client = _client(client_id)
    if client is None or not client.post_logout_redirect_uri_allowed(uri):
        return None
    return _origin(uri)


def app_origins(request) -> set[str]:
    candidates = [request.get_full_path(), request.GET.get("next", ""), request.POST.get("next", "")]
    session = getattr(request, "session", None)
    pending = SigninState(session).pending if session is not None else None
    if pending is not None:
        candidates.append(pending.next)
    origins = {origin for url in set(candidates) if url and (origin := _authorization_origin(url))}
    if request.path == _path("oauth2_provider:rp-initiated-logout") and (origin := _logout_origin(request)):
        origins.add(origin)
    return origins


class AppFormActionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # Only a page can hold a form; a redirect's own header is never used to submit one.
        if response.get("Content-Type", "").startswith("text/html") and not 300 <= response.status_code < 400:
            origins = app_origins(request)
            if origins:
                response._csp_update = {"form-action": sorted(origins)}
        return response
