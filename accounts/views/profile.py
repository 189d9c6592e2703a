"""The display name and the language switcher."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django.views.i18n import set_language

from ..flows.profile import change_display_name, remember_language
from ..profile_forms import DisplayNameForm


@never_cache
@require_http_methods(["GET", "POST"])
@login_required
def name_change(request):
    form = DisplayNameForm(
        data=request.POST if request.method == "POST" else None, initial={"display_name": request.user.display_name}
    )
    if request.method == "POST" and form.is_valid():
        if change_display_name(request, request.user, form.cleaned_data["display_name"]):
            messages.success(request, _("Your name has been saved."))
        return redirect("accounts:home")
    return render(request, "accounts/name_change.html", {"form": form}, status=400 if form.is_bound else 200)


@require_POST
def choose_language(request):
    """Django's set_language (it checks `next` stays on this site and writes the language cookie); a
    signed-in person's choice is kept on the account as well, to follow them to other browsers."""
    response = set_language(request)
    chosen = request.POST.get("language", "")
    if request.user.is_authenticated and chosen in dict(settings.LANGUAGES):
        remember_language(request.user, chosen)
    return response
