"""The "This wasn't me" link of a mail about a credential event: no sign-in needed, one confirming click."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from .. import tokens
from ..flows.not_me import undo_credential_event
from ..tokens import read_not_me_token
from .links import forget_link_token, kept_link_token, stash_link_token

NOT_ME_TOKEN_COOKIE = "not-me-token"

not_me_link = stash_link_token(
    NOT_ME_TOKEN_COOKIE, "accounts:not_me_confirm", tokens.NOT_ME_SALT, "accounts/not_me_invalid.html"
)


@never_cache
@require_http_methods(["GET", "POST"])
def not_me_confirm(request):
    """The GET only shows what will happen; the POST undoes the event and evicts whoever made it."""
    event = read_not_me_token(kept_link_token(request, NOT_ME_TOKEN_COOKIE))
    if event is None:
        return render(request, "accounts/not_me_invalid.html", status=400)
    if request.method == "GET":
        return render(request, "accounts/not_me_confirm.html", {"event": event})
    reachable = undo_credential_event(request, event)
    if reachable is None:
        return forget_link_token(render(request, "accounts/not_me_invalid.html", status=400), NOT_ME_TOKEN_COOKIE)
    if reachable:
        return forget_link_token(redirect("accounts:not_me_done"), NOT_ME_TOKEN_COOKIE)
    messages.error(
        request,
        _(
            "Everyone is signed out and the old password no longer works, but your old address now belongs "
            "to another account. Please contact the site's administrators to get your account back."
        ),
    )
    return forget_link_token(redirect("accounts:signin"), NOT_ME_TOKEN_COOKIE)


@require_GET
def not_me_done(request):
    """Where "This wasn't me" lands: not a sign-in form, as the password it would ask for was just
    disabled; it says why and that the way back is the mailed reset link."""
    return render(request, "accounts/not_me_done.html")
