from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from .flows.signin import recently_authenticated


def reauthentication_required(
    view=None, *, return_to: str | None = None, enough: Callable[..., bool] = recently_authenticated
):
    """Sensitive actions need the account's highest level proved within REAUTHENTICATION_TIMEOUT (a
    second factor if the account holds one, else the password; see `recently_authenticated`), or
    what `enough` says instead.

    Otherwise the person confirms their identity first and comes back: to this page for a GET, or to
    `return_to` (the page holding the form) for a POST, which is not replayed (so they are told to
    press the button again).
    """

    def decorate(view):
        @wraps(view)
        @login_required
        def wrapped(request, *args, **kwargs):
            if enough(request):
                return view(request, *args, **kwargs)
            back = request.get_full_path() if request.method == "GET" or not return_to else reverse(return_to)
            if request.method != "GET":
                messages.info(request, _("Nothing has been changed yet. Confirm it's you, then try again."))
            return redirect(f"{reverse('accounts:reauthenticate')}?{urlencode({'next': back})}")

        return wrapped

    return decorate(view) if view is not None else decorate
