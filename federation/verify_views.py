"""The pages of an address verified by our own mail (verify.py): "check your inbox" after the callback,
the mailed link, and its confirmation (in the browser that came back from the provider only)."""

from __future__ import annotations

from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.views.links import forget_link_token, kept_link_token, stash_link_token

from . import verify
from .models import Provider

STATUS = {
    verify.Outcome.USED: 400,
    verify.Outcome.EMAIL_TAKEN: 409,
    verify.Outcome.NOT_ALLOWED: 403,
    verify.Outcome.ELSEWHERE: 403,
}


@never_cache
@require_GET
def verify_sent(request):
    """ "Check your inbox": the callback set the browser secret cookie on its own response."""
    provider = Provider.objects.filter(slug=request.GET.get("provider", "")).first()
    return render(request, "federation/verify_sent.html", {"provider": provider})


verify_link = stash_link_token(
    verify.LINK_COOKIE, "federation:verify_confirm", verify.TOKEN_SALT, "federation/verify_invalid.html"
)


@never_cache
@require_http_methods(["GET", "POST"])
def verify_confirm(request):
    """A confirming click, not the GET, creates the account: mail scanners that fetch links do not."""
    facts = verify.read_token(kept_link_token(request, verify.LINK_COOKIE))
    if facts is None:
        return render(request, "federation/verify_invalid.html", status=400)
    provider = Provider.objects.filter(slug=facts["provider"]).first()
    context = {"email": facts["email"], "provider": provider, "provider_name": provider.name if provider else ""}
    if not verify.same_browser(facts, verify.browser_secret(request)):
        # Only the browser that came back from the provider may create the account (verify.py): the
        # link is kept for it, and this page has no button.
        status = 403 if request.method == "POST" else 200
        return render(request, "federation/verify_elsewhere.html", context, status=status)
    if request.method == "GET":
        return render(request, "federation/verify_confirm.html", context)
    outcome, provider, next_page = verify.complete_address_verification(request, facts)
    if outcome == verify.Outcome.SIGNED_IN:
        response = redirect(next_page)
    else:
        context = {"outcome": outcome, "provider": provider, "email": facts["email"]}
        response = render(request, "federation/verify_done.html", context, status=STATUS.get(outcome, 200))
    return forget_link_token(response, verify.LINK_COOKIE)
