"""The two addresses of an upstream sign-in: the start, and the provider's callback."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from identity.cookies import delete_private_cookie, private_cookie, set_private_cookie

from . import flows, realm, verify
from .app_settings import app_settings
from .models import Provider

# The refusal page's status by Refused.reason (403 for the rest); templates/federation/refused.html
# words each reason.
STATUS = {"state": 400, "upstream": 400, "unreachable": 502, "email_taken": 409}


@never_cache
@require_GET
def start(request, slug: str):
    provider = get_object_or_404(Provider, slug=slug, enabled=True)
    try:
        url, ticket = flows.begin_upstream_signin(request, provider, request.GET.get("next"))
    except flows.Refused as refused:
        return _refused(request, refused, provider)
    response = redirect(url)
    return set_private_cookie(
        response, flows.TICKET_COOKIE, ticket.dumps(), max_age=app_settings.FEDERATION_STATE_TIMEOUT
    )


@never_cache
@require_GET
def callback(request, slug: str):
    """The ticket cookie is deleted whatever the outcome: a callback works once, and a replayed one
    (the same URL again) finds no ticket."""
    try:
        response = redirect(flows.complete_upstream_signin(request, slug, private_cookie(request, flows.TICKET_COOKIE)))
    except flows.Refused as refused:
        response = _refused(request, refused, Provider.objects.filter(slug=slug).first())
    return verify.keep_browser_secret(request, delete_private_cookie(response, flows.TICKET_COOKIE))


def _refused(request, refused: flows.Refused, provider: Provider | None):
    context = {"reason": refused.reason, "provider": provider, "password_email": refused.password_email}
    response = render(request, "federation/refused.html", context, status=STATUS.get(refused.reason, 403))
    return realm.offer_password_way(response, refused.password_email) if refused.password_email else response
