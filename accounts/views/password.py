"""Password change and reset pages."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods
from django.views.generic import FormView

from identity.ratelimit import RateLimited
from identity.refusals import respond

from .. import realms
from ..decorators import reauthentication_required
from ..flows.password import change_password, complete_password_reset, may_change_password, request_password_reset
from ..flows.signin import password_capped
from ..forms import EmailOnlyForm, PasswordChangeForm, SetPasswordForm
from .links import forget_link_token, keep_link_token, kept_link_token

RESET_TOKEN_COOKIE = "reset-token"


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

    def get_form(self, form_class=None):
        self.posted_form = super().get_form(form_class)  # kept for the page shown again when refused
        return self.posted_form

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except RateLimited as refused:
            # The form as posted (its cleaning stopped at the refusal, so showing it checks nothing
            # again); password inputs never render their values.
            context = self.get_context_data(form=self.posted_form)
            if password_capped(refused):
                return render_password_capped(request, refused, self.template_name, context)
            return respond(request, refused, self.template_name, context)

    def form_valid(self, form):
        change_password(self.request, form.user, form.cleaned_data["new_password1"])
        messages.success(self.request, _("Your password has been changed. Your other sessions were signed out."))
        return redirect("accounts:home")

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)


def render_password_capped(request, refused: RateLimited, template: str, context: dict) -> HttpResponse:
    """A signed-in person's password page past the 100-failure cap: it says to reset the password, which
    lifts the cap, rather than to wait the cap's 100 years (so no Retry-After either)."""
    return respond(request, refused.without_wait(), template, {**context, "password_capped": True})


@never_cache
@require_http_methods(["GET", "POST"])
def password_reset(request):
    form = EmailOnlyForm(data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        # A bound domain's provider holds its people's credentials: no reset mail (our password is not
        # how they sign in), the page sends them there. Said of the domain, whether or not an account
        # exists at the address.
        realm = realms.find(form.cleaned_data["email"])
        if realm is not None:
            return render(request, "accounts/password_reset_realm.html", {"realm": realm})
        try:
            request_password_reset(request, form.cleaned_data["email"])
        except RateLimited as refused:
            return respond(request, refused, "accounts/password_reset.html", {"form": form})
        return redirect("accounts:password_reset_sent")
    return render(request, "accounts/password_reset.html", {"form": form}, status=400 if form.is_bound else 200)


@require_GET
def password_reset_sent(request):
    return render(request, "accounts/password_reset_sent.html")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Django's view, swapping the token in the URL for a token-free form page as Django does, but with
    the token kept in a short-lived cookie (links.py) instead of the session: a reset link opened
    again and again from fresh browsers must not create a Redis session each time."""

    template_name = "accounts/password_reset_confirm.html"
    form_class = SetPasswordForm
    success_url = reverse_lazy("accounts:signin")

    @method_decorator(sensitive_post_parameters())
    @method_decorator(never_cache)
    def dispatch(self, request, *args, **kwargs):
        self.validlink = False
        self.user = self.get_user(kwargs["uidb64"])
        token = kwargs["token"]
        if self.user is not None and token != self.reset_url_token:
            if self.token_generator.check_token(self.user, token):
                form_page = HttpResponseRedirect(request.path.replace(token, self.reset_url_token))
                return keep_link_token(form_page, RESET_TOKEN_COOKIE, token)
        elif self.user is not None and self.token_generator.check_token(
            self.user, kept_link_token(request, RESET_TOKEN_COOKIE)
        ):
            self.validlink = True
            return FormView.dispatch(self, request, *args, **kwargs)  # past Django's session-based dispatch
        return self.render_to_response(self.get_context_data())

    def form_valid(self, form):
        complete_password_reset(self.request, form.user, form.cleaned_data["new_password1"])
        messages.success(self.request, _("Your password has been reset. Sign in with your new password."))
        return forget_link_token(redirect(self.success_url), RESET_TOKEN_COOKIE)

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)

    def render_to_response(self, context, **kwargs):
        if not context.get("validlink"):
            kwargs["status"] = 400
        return super().render_to_response(context, **kwargs)
