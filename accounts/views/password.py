"""Password change and reset pages."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from ..decorators import reauthentication_required
from ..flows.password import change_password, complete_password_reset, may_change_password, request_password_reset
from ..forms import EmailOnlyForm, PasswordChangeForm, SetPasswordForm


@method_decorator(
    reauthentication_required(return_to="accounts:password_change", enough=may_change_password), name="dispatch"
)
class PasswordChangeView(auth_views.PasswordChangeView):
    """The current password, rate limited like sign-in, is asked for here; an account with a second
    factor confirms that first (see `may_change_password`)."""

    template_name = "accounts/password_change.html"
    form_class = PasswordChangeForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}

    def form_valid(self, form):
        change_password(self.request, form.user, form.cleaned_data["new_password1"])
        messages.success(self.request, _("Your password has been changed. Your other sessions were signed out."))
        return redirect("accounts:home")

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


@never_cache
@require_http_methods(["GET", "POST"])
def password_reset(request):
    form = EmailOnlyForm(data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        request_password_reset(request, form.cleaned_data["email"])
        return redirect("accounts:password_reset_sent")
    return render(request, "accounts/password_reset.html", {"form": form}, status=400 if form.is_bound else 200)


@require_GET
def password_reset_sent(request):
    return render(request, "accounts/password_reset_sent.html")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's view swaps the token in the URL for a session value before showing the form."""

    template_name = "accounts/password_reset_confirm.html"
    form_class = SetPasswordForm
    success_url = reverse_lazy("accounts:signin")

    def form_valid(self, form):
        complete_password_reset(self.request, form.user, form.cleaned_data["new_password1"])
        self.request.session.pop(auth_views.INTERNAL_RESET_SESSION_TOKEN, None)
        messages.success(self.request, _("Your password has been reset. Sign in with your new password."))
        return redirect(self.success_url)

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)

    def render_to_response(self, context, **kwargs):
        if not context.get("validlink"):
            kwargs["status"] = 400
        return super().render_to_response(context, **kwargs)
