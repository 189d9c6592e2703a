"""Account pages. Each view validates a form, calls one flow function and answers."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .flows.password import change_password, complete_password_reset, request_password_reset
from .flows.signin import complete_signin, safe_next_url, sign_out
from .flows.signup import sign_up
from .flows.verification import resend_verification, verify_email
from .forms import EmailOnlyForm, SignInForm, SignUpForm
from .tokens import user_for_verification_token

VERIFY_TOKEN_SESSION_KEY = "accounts.verify_token"


def _redirect_signed_in(request):
    return redirect(safe_next_url(request.GET.get("next")) or "accounts:home")


@require_GET
@login_required
def home(request):
    return render(request, "accounts/home.html")


@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def signin(request):
    next_url = safe_next_url(request.POST.get("next") or request.GET.get("next"))
    if request.user.is_authenticated:
        return redirect(next_url or "accounts:home")
    form = SignInForm(request, data=request.POST or None, initial={"email": request.GET.get("email", "")})
    if request.method == "POST" and form.is_valid():
        complete_signin(request, form.user, method="pwd")
        return redirect(next_url or "accounts:home")
    status = 400 if form.is_bound else 200
    return render(request, "accounts/signin.html", {"form": form, "next": next_url or ""}, status=status)


@require_POST
def signout(request):
    sign_out(request)
    messages.success(request, _("You have signed out."))
    return redirect("accounts:signin")


@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return _redirect_signed_in(request)
    form = SignUpForm(data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        sign_up(form.cleaned_data["email"], form.cleaned_data["password"])
        return redirect("accounts:check_inbox")
    return render(request, "accounts/signup.html", {"form": form}, status=400 if form.is_bound else 200)


@require_GET
def check_inbox(request):
    return render(request, "accounts/check_inbox.html")


@never_cache
@require_GET
def verify_email_link(request, token: str):
    """Swap the token from the link for a session value, so it never leaves in a Referer header."""
    request.session[VERIFY_TOKEN_SESSION_KEY] = token
    return redirect("accounts:verify_email_confirm")


@never_cache
@require_http_methods(["GET", "POST"])
def verify_email_confirm(request):
    # A confirmation click, not the GET, verifies: mail scanners that fetch links do not.
    user = user_for_verification_token(request.session.get(VERIFY_TOKEN_SESSION_KEY, ""))
    if user is None:
        return render(request, "accounts/verify_invalid.html", {"form": EmailOnlyForm()}, status=400)
    if request.method == "POST":
        verify_email(user)
        request.session.pop(VERIFY_TOKEN_SESSION_KEY, None)
        messages.success(request, _("Your email address is verified. You can sign in now."))
        return redirect(f"{reverse('accounts:signin')}?{urlencode({'email': user.email})}")
    return render(request, "accounts/verify_confirm.html", {"email": user.email})


@require_POST
def verify_email_resend(request):
    form = EmailOnlyForm(data=request.POST)
    if not form.is_valid():
        return render(request, "accounts/verify_invalid.html", {"form": form}, status=400)
    resend_verification(form.cleaned_data["email"])
    return redirect("accounts:check_inbox")


@method_decorator(login_required, name="dispatch")
class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"

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
        request_password_reset(form.cleaned_data["email"])
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
        complete_password_reset(form.user, form.cleaned_data["new_password1"])
        self.request.session.pop(auth_views.INTERNAL_RESET_SESSION_TOKEN, None)
        messages.success(self.request, _("Your password has been reset. Sign in with your new password."))
        return redirect(self.success_url)

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=400)

    def render_to_response(self, context, **kwargs):
        if not context.get("validlink"):
            kwargs["status"] = 400
        return super().render_to_response(context, **kwargs)
