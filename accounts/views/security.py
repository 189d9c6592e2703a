"""The account home, the security page, re-authentication and email change."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from identity.ratelimit import RateLimited
from identity.refusals import respond

from .. import sections, tokens
from ..decorators import reauthentication_required
from ..flows.email import complete_email_change, request_email_change
from ..flows.security import (
    active_sessions,
    end_one_session,
    end_other_sessions,
    may_end_session,
    previous_signin,
    report_not_me,
    signin_history,
)
from ..flows.signin import (
    after_password_reauthentication,
    begin_reauthentication,
    confirm_identity,
    password_capped,
    safe_next_url,
)
from ..forms import EmailChangeForm, NotMeForm, ReauthenticateForm
from ..signin_state import signin_state
from ..tokens import read_email_change_token
from .links import forget_link_token, kept_link_token, stash_link_token
from .password import render_password_capped

EMAIL_CHANGE_TOKEN_COOKIE = "email-change-token"


@require_GET
@login_required
def home(request):
    context = {"previous_signin": previous_signin(request), **sections.page_sections(request, sections.HOME)}
    return render(request, "accounts/home.html", context)


@never_cache
@require_GET
@login_required
def security_page(request):
    return render(request, "accounts/security.html", _security_context(request))


def _security_context(request) -> dict:
    user = request.user
    return {
        "sessions": active_sessions(request),
        "history": signin_history(user),
        **sections.page_sections(request, sections.SECURITY),
    }


@require_POST
@reauthentication_required(return_to="accounts:security", enough=may_end_session)
def end_session(request):
    if end_one_session(request, request.POST.get("session", "")):
        messages.success(request, _("That session has been signed out."))
    else:
        messages.error(request, _("That session had already ended."))
    return redirect("accounts:security")


@require_POST
@reauthentication_required(return_to="accounts:security")
def end_other_sessions_view(request):
    ended = end_other_sessions(request)
    messages.success(
        request,
        ngettext("%(n)d other session was signed out.", "%(n)d other sessions were signed out.", ended) % {"n": ended},
    )
    return redirect("accounts:security")


@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
@login_required
def not_me(request):
    """GET says what "This wasn't me" will do and asks to confirm; the POST does it. It needs what this
    session signed in with, proved again (see report_not_me): its password in the form, or, for a
    session that signed in without one, a re-authentication first, which comes back to this page."""
    if request.method != "POST":
        return render(request, NOT_ME_TEMPLATE, _not_me_context(request, NotMeForm()))
    form = NotMeForm(data=request.POST)
    password = form.cleaned_data["password"] if form.is_valid() else ""
    try:
        done = report_not_me(request, password)
    except RateLimited as refused:
        if password_capped(refused):  # past the 100-failure cap waiting won't help: say to reset instead
            return render_password_capped(request, refused, NOT_ME_TEMPLATE, _not_me_context(request, form))
        return respond(request, refused, NOT_ME_TEMPLATE, _not_me_context(request, form))
    if not done:
        if not _not_me_asks_password(request):
            confirm_first = urlencode({"next": reverse("accounts:not_me")})
            return redirect(f"{reverse('accounts:reauthenticate')}?{confirm_first}")
        if form.is_valid():  # else the field already says what is wrong (empty, too long)
            form.add_error("password", _("That password is not right. Nothing was changed."))
        return render(request, NOT_ME_TEMPLATE, _not_me_context(request, form), status=400)
    return redirect("accounts:not_me_done")


NOT_ME_TEMPLATE = "accounts/not_me.html"


def _not_me_asks_password(request) -> bool:
    return "pwd" in signin_state(request).signin_methods()


def _not_me_context(request, form: NotMeForm) -> dict:
    return {"form": form, "asks_password": _not_me_asks_password(request)}


@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
@login_required
def reauthenticate(request):
    """Confirm it's you at the account's highest level: a second factor at the challenge page if the
    account holds one (a password posted here is then not even checked), else the password, or what
    other apps offer beside it (a passkey, a sign-in provider the account is linked to:
    sections.REAUTHENTICATE). An account holding a passkey is asked here: its passkey, or its password
    and then its second factor. An account without a usable password is shown no password field."""
    next_url = safe_next_url(request.POST.get("next") or request.GET.get("next")) or "/accounts/security/"
    challenge = begin_reauthentication(request, next_url, second_factor=request.GET.get("with") == "second-factor")
    if challenge:
        return redirect(challenge)
    form = ReauthenticateForm(data=request.POST or None)
    context = {
        "form": form,
        "next": next_url,
        "has_password": request.user.has_usable_password(),
        **sections.page_sections(request, sections.REAUTHENTICATE),
    }
    if request.method == "POST" and form.is_valid():
        try:
            if confirm_identity(request, form.cleaned_data["password"]):
                return redirect(after_password_reauthentication(request, next_url))
        except RateLimited as refused:
            if password_capped(refused):
                return render_password_capped(request, refused, "accounts/reauthenticate.html", context)
            return respond(request, refused, "accounts/reauthenticate.html", context)
        form.add_error("password", _("That password is not right."))
    return render(request, "accounts/reauthenticate.html", context, status=400 if form.is_bound else 200)


@never_cache
@require_http_methods(["GET", "POST"])
@reauthentication_required
def email_change(request):
    form = EmailChangeForm(request.user, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            request_email_change(request, request.user, form.cleaned_data["email"])
        except RateLimited as refused:
            return respond(request, refused, "accounts/email_change.html", {"form": form})
        return render(request, "accounts/email_change_sent.html", {"email": form.cleaned_data["email"]})
    return render(request, "accounts/email_change.html", {"form": form}, status=400 if form.is_bound else 200)


email_change_link = stash_link_token(
    EMAIL_CHANGE_TOKEN_COOKIE,
    "accounts:email_change_confirm",
    tokens.EMAIL_CHANGE_SALT,
    "accounts/email_change_invalid.html",
)


@never_cache
@require_http_methods(["GET", "POST"])
def email_change_confirm(request):
    """Only the signed-in owner can confirm: whoever receives mail at a mistyped new address must not
    be able to take the account over with the link. A valid link opened in another browser (signed
    out, or signed in to another account) says what to do, without naming the account it is for."""
    loaded = read_email_change_token(kept_link_token(request, EMAIL_CHANGE_TOKEN_COOKIE))
    if loaded is None:
        return render(request, "accounts/email_change_invalid.html", status=400)
    user, new_email = loaded
    if user.pk != request.user.pk:
        signin = f"{reverse('accounts:signin')}?{urlencode({'next': reverse('accounts:email_change_confirm')})}"
        return render(request, "accounts/email_change_elsewhere.html", {"signin_url": signin}, status=403)
    if request.method == "POST":
        if not complete_email_change(request, user, new_email):
            response = render(request, "accounts/email_change_taken.html", {"email": new_email}, status=409)
            return forget_link_token(response, EMAIL_CHANGE_TOKEN_COOKIE)
        messages.success(request, _("Your email address is now %(email)s.") % {"email": new_email})
        return forget_link_token(redirect("accounts:home"), EMAIL_CHANGE_TOKEN_COOKIE)
    return render(request, "accounts/email_change_confirm.html", {"email": new_email, "old_email": user.email})
