"""The admin site: staff only, through the same front door and with the same MFA as everyone."""

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from identity.views import error_page

from . import stages
from .flows.signin import begin_step_up, safe_next_url
from .signin_state import signin_state


class IdentityAdminSite(admin.AdminSite):
    site_header = "Identity administration"

    def has_permission(self, request) -> bool:
        """Staff only, and, where policy requires MFA, only in a session signed in with a second factor."""
        if not super().has_permission(request):
            return False
        if not stages.must_have_mfa(request.user):
            return True
        return bool(signin_state(request).methods() & stages.second_factors())

    def login(self, request, extra_context=None):
        """Admins sign in through the same front door as everyone, with the same MFA. A staff session
        that lacks the second factor policy requires (say, one enrolled in this very session, which
        counts only once used) is offered a step-up with it; a person without one is told what is
        missing."""
        next_url = safe_next_url(request.GET.get("next")) or "/admin/"
        user = request.user
        if user.is_authenticated and self.has_permission(request):
            return redirect(next_url)
        if user.is_authenticated and not user.is_staff:
            return error_page(403, _("No access"), _("Your account cannot use the administration site."))
        if user.is_authenticated and stages.holds_second_factor(user):
            messages.info(
                request,
                _("The administration site needs your second factor in this session. Confirm it's you to continue."),
            )
            return redirect(begin_step_up(request, next_url))
        if user.is_authenticated:
            return error_page(
                403,
                _("Two-step verification needed"),
                _(
                    "The administration site needs a sign-in with two-step verification. "
                    "Sign out, then sign in again with your second factor."
                ),
            )
        query = urlencode({"next": next_url})
        return redirect(f"{reverse('accounts:signin')}?{query}")
