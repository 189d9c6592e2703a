"""Sign-in, sign-up, email verification and sign-out pages."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from identity.ratelimit import RateLimited
from identity.views import render_throttled, wait_phrase

from ..flows.signin import begin_signin, safe_next_url, sign_out
from ..flows.signup import sign_up
from ..flows.verification import resend_verification, verify_email
from ..forms import EmailOnlyForm, SignInForm, SignUpForm
from .. import tokens
from ..tokens import user_for_verification_token
from .links import forget_link_token, kept_link_token, stash_link_token

VERIFY_TOKEN_COOKIE = "verify-token"
# Past this wait, password sign-in is paused for the account until a reset (the 100-failure cap).
CAPPED_AFTER = 7 * 24 * 3600


def _throttled_message(retry_after: int) -> str:
    if retry_after > CAPPED_AFTER:
        return _(
            "There have been too many failed attempts to sign in to this account. To protect it, "
            "password sign-in is paused until the password is reset."
        )
    return _("Too many attempts. To protect your account, please wait %(wait)s before trying again.") % {
        "wait": wait_phrase(retry_after)
    }


@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def signin(request):
    next_url = safe_next_url(request.POST.get("next") or request.GET.get("next"))
    # An app may ask for a fresh sign-in (OpenID Connect prompt=login, max_age) from someone signed in.
    again = (request.POST.get("prompt") or request.GET.get("prompt")) == "login" and request.user.is_authenticated
    if request.user.is_authenticated and not again:
        return redirect(next_url or "accounts:home")
    email = request.GET.get("email", "") or (request.user.email if again else "")
    form = SignInForm(request, data=request.POST or None, initial={"email": email})
    context = {"form": form, "next": next_url or "", "again": again}
    try:
        if request.method == "POST" and form.is_valid():
            return redirect(begin_signin(request, form.user, "pwd", next_url))
    except RateLimited as throttled:
        message = _throttled_message(throttled.retry_after)
        return render_throttled(request, "accounts/signin.html", context, throttled.retry_after, message)
    return render(request, "accounts/signin.html", context, status=400 if form.is_bound else 200)


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
        return redirect("accounts:home")
    form = SignUpForm(data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        sign_up(request, form.cleaned_data["email"], form.cleaned_data["password"])
        return redirect("accounts:check_inbox")
    return render(request, "accounts/signup.html", {"form": form}, status=400 if form.is_bound else 200)


@require_GET
def check_inbox(request):
    return render(request, "accounts/check_inbox.html")


verify_email_link = stash_link_token(
    VERIFY_TOKEN_COOKIE, "accounts:verify_email_confirm", tokens.SALT, "accounts/verify_invalid.html"
)


@never_cache
@require_http_methods(["GET", "POST"])
def verify_email_confirm(request):
    # A confirmation click, not the GET, verifies: mail scanners that fetch links do not.
    user = user_for_verification_token(kept_link_token(request, VERIFY_TOKEN_COOKIE))
    if user is None:
        return render(request, "accounts/verify_invalid.html", {"form": EmailOnlyForm()}, status=400)
    if request.method == "POST":
        verify_email(request, user)
        messages.success(request, _("Your email address is verified. You can sign in now."))
        response = redirect(f"{reverse('accounts:signin')}?{urlencode({'email': user.email})}")
        return forget_link_token(response, VERIFY_TOKEN_COOKIE)
    return render(request, "accounts/verify_confirm.html", {"email": user.email})


@require_POST
def verify_email_resend(request):
    form = EmailOnlyForm(data=request.POST)
    if not form.is_valid():
        return render(request, "accounts/verify_invalid.html", {"form": form}, status=400)
    resend_verification(request, form.cleaned_data["email"])
    return redirect("accounts:check_inbox")
