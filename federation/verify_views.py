"""The pages of an address verified by our own mail (verify.py): "check your inbox" after the callback,
the mailed link, and its confirmation."""

from __future__ import annotations

from urllib.parse import urlencode

from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from accounts.views.links import forget_link_token, kept_link_token, stash_link_token
from identity.cookies import private_cookie, set_private_cookie

from . import verify
from .models import Provider
from .realm import start_url

STATUS = {verify.Outcome.USED: 400, verify.Outcome.EMAIL_TAKEN: 409, verify.Outcome.NOT_ALLOWED: 403}


@never_cache
@require_GET
def verify_sent(request):
    """The callback sends the browser here with a short-lived handover of its secret, which moves into a
    cookie (and out of the address bar) before the page is shown."""
    if "b" in request.GET:
        handover = verify.take_handover(request.GET["b"])
        if handover is None:
            return redirect("federation:verify_sent")
        secret, slug = handover
        response = redirect(reverse("federation:verify_sent") + "?" + urlencode({"provider": slug}))
        return set_private_cookie(response, verify.BROWSER_COOKIE, secret, max_age=verify.BROWSER_COOKIE_AGE)
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
    if request.method == "GET":
        context = {"email": facts["email"], "provider": provider, "provider_name": provider.name if provider else ""}
        return render(request, "federation/verify_confirm.html", context)
    outcome, provider, next_page = verify.complete_address_verification(
        request, facts, private_cookie(request, verify.BROWSER_COOKIE)
    )
    if outcome == verify.Outcome.SIGNED_IN:
        response = redirect(next_page)
    else:
        again = start_url(provider, facts["email"], facts["next"]) if provider is not None and provider.enabled else ""
        context = {"outcome": outcome, "provider": provider, "email": facts["email"], "again_url": again}
        response = render(request, "federation/verify_done.html", context, status=STATUS.get(outcome, 200))
    return forget_link_token(response, verify.LINK_COOKIE)
