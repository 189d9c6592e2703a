"""The one way a rate-limit refusal becomes a response, and the one place it is audited.

The refusal (identity.ratelimit.RateLimited) carries what to say: its wait, its words, its audit row
and whether a page, JSON, an OAuth error or a SCIM error (RFC 7644 3.12) answers. `respond` renders it
(the form page again with the wait explained, else the 429 error page) with Retry-After unless waiting
does not help, and sends `throttled` exactly once. Views call it for the pages they show again;
RateLimitMiddleware calls it for every refusal a view lets through.

`throttled(request, kind, user, method, reason)`: a refused attempt to put in the audit trail. Accounts
writes it (bounded per address); identity knows no feature app, so it only announces.
"""

from __future__ import annotations

from django.dispatch import Signal
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from .ratelimit import SIGNED_IN, RateLimited
from .views import too_many_requests, wait_phrase

throttled = Signal()
SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def respond(request, refused: RateLimited, template: str | None = None, context: dict | None = None) -> HttpResponse:
    """The response to a refusal, audited here and only here. A `template` is the page that was
    refused, shown again (with its `context`) saying the refusal's words as `throttled`."""
    _audit(request, refused)
    if refused.answer == "json":
        response: HttpResponse = JsonResponse({"error": explained(refused)}, status=429)
    elif refused.answer == "oauth":
        oauth_error = {"error": "temporarily_unavailable", "error_description": explained(refused)}
        response = JsonResponse(oauth_error, status=429)
    elif refused.answer == "scim":
        scim_error = {"schemas": [SCIM_ERROR], "status": "429", "detail": explained(refused) or "Too many requests."}
        response = JsonResponse(scim_error, status=429, content_type="application/scim+json")
    elif template is None:
        return too_many_requests(refused.retry_after)
    else:
        words = explained(refused) if refused.message is not None else default_words(refused)
        said = {"throttled": words} if words else {}
        response = render(request, template, {**(context or {}), **said}, status=429)
    if refused.retry_after is not None:
        response["Retry-After"] = str(refused.retry_after)
    return response


def default_words(refused: RateLimited) -> str | None:
    """What a form page shown again says when the refusal brought no words of its own: when to try
    again. None past a cap (no wait to promise: the page says what helps instead)."""
    if refused.retry_after is None:
        return None
    return _("Too many attempts. Try again in %(wait)s.") % {"wait": wait_phrase(refused.retry_after)}


def explained(refused: RateLimited) -> str | None:
    """The refusal's words, with its wait said as people say it ('about 3 minutes')."""
    if refused.message is None or refused.retry_after is None:
        return refused.message
    return refused.message % {"wait": wait_phrase(refused.retry_after)}


def _audit(request, refused: RateLimited) -> None:
    audit = refused.audit
    if audit is None:
        return
    user = audit.user
    if user is SIGNED_IN:
        user = request.user if request.user.is_authenticated else None
    reason = audit.reason if audit.reason is not None else ",".join(refused.limits)[:40]
    throttled.send(RateLimited, request=request, kind=audit.kind, user=user, method=audit.method, reason=reason)
