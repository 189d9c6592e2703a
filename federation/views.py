"""The addresses of an upstream round trip: the start, the provider's callback, and the signed-in
person's starts (confirm it's you, link) and unlink."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import reauthentication_required
from identity.cookies import delete_private_cookie, private_cookie, set_private_cookie

from . import flows, linking, realm, verify
from .app_settings import app_settings
from .models import Provider

# The refusal page's status by Refused.reason (403 for the rest); templates/federation/refused.html
# words each reason.
STATUS = {
    "state": 400,
    "upstream": 400,
    "unreachable": 502,
    "email_taken": 409,
    "session": 400,
    "linked_elsewhere": 409,
}
# Refusals of a signed-in person's round trip (linking.py): the page says so, and leads back to security.
SIGNED_IN_REASONS = ("session", "not_linked", "stale", "linked_elsewhere")


@never_cache
@require_GET
def start(request, slug: str):
    provider = get_object_or_404(Provider, slug=slug, enabled=True)
    try:
        url, ticket = flows.begin_upstream_signin(request, provider, request.GET.get("next"))
    except flows.Refused as refused:
        return _refused(request, refused, provider)
    return _to_provider(url, ticket)


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


@never_cache
@require_POST
@login_required
def confirm(request, slug: str):
    """ "Confirm with <provider>" on the re-authentication page."""
    provider = get_object_or_404(Provider, slug=slug, enabled=True)
    try:
        url, ticket = linking.begin_confirmation(request, provider, request.POST.get("next"))
    except flows.Refused as refused:
        return _refused(request, refused, provider)
    return _to_provider(url, ticket, request, provider)


@never_cache
@require_POST
@reauthentication_required(return_to="accounts:security")
def link(request, slug: str):
    provider = get_object_or_404(Provider, slug=slug, enabled=True)
    try:
        url, ticket = linking.begin_link(request, provider)
    except flows.Refused as refused:
        return _refused(request, refused, provider)
    return _to_provider(url, ticket, request, provider)


@never_cache
@require_POST
@reauthentication_required(return_to="accounts:security")
def unlink(request, link_id: int):
    try:
        removed = linking.unlink(request, link_id)
    except linking.LastWayIn:
        return render(request, "federation/unlink_refused.html", status=409)
    if removed is None:
        messages.error(request, _("That sign-in provider was not linked to your account."))
    else:
        messages.success(request, _("%(name)s is unlinked from your account.") % {"name": removed.provider.name})
    return redirect("accounts:security")


def _to_provider(url: str, ticket: flows.Ticket, request=None, provider: Provider | None = None):
    """Off to the provider, with the ticket. After a form's POST (`request` given) not by a redirect: the
    browser holds every redirect that follows a form to CSP's `form-action 'self'`, so a page that goes
    on by itself (a meta refresh, no script) takes the person there, with a link in case it does not."""
    response: HttpResponse
    if request is None:
        response = redirect(url)
    else:
        response = render(request, "federation/continue.html", {"url": url, "provider": provider})
    return set_private_cookie(
        response, flows.TICKET_COOKIE, ticket.dumps(), max_age=app_settings.FEDERATION_STATE_TIMEOUT
    )


def _refused(request, refused: flows.Refused, provider: Provider | None):
    context = {
        "reason": refused.reason,
        "provider": provider,
        "signed_in_refusal": refused.reason in SIGNED_IN_REASONS,
        "password_email": refused.password_email,
    }
    response = render(request, "federation/refused.html", context, status=STATUS.get(refused.reason, 403))
    return realm.offer_password_way(response, refused.password_email) if refused.password_email else response
