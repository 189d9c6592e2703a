"""Sign-in, sign-up, email verification and sign-out pages."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from identity import ratelimit
from identity.net import client_ip, rate_limit_subject
from identity.ratelimit import RateLimited
from identity.refusals import respond

from .. import realms, sections, tokens
from ..app_settings import app_settings
from ..flows.signin import CapReached, begin_signin, safe_next_url, sign_out
from ..flows.signin_code import begin_code_signin, complete_code_signin, has_code_signin
from ..flows.signup import sign_up
from ..flows.verification import resend_verification, verify_email
from ..forms import EmailOnlyForm, SignInCodeForm, SignInForm, SignUpForm
from ..tokens import user_for_verification_token
from .links import forget_link_token, kept_link_token, stash_link_token

VERIFY_TOKEN_COOKIE = "verify-token"


@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def signin(request):
    next_url = safe_next_url(request.POST.get("next") or request.GET.get("next"))
    # An app may ask for a fresh sign-in (OpenID Connect prompt=login, max_age) from someone signed in.
    again = (request.POST.get("prompt") or request.GET.get("prompt")) == "login" and request.user.is_authenticated
    if request.user.is_authenticated and not again:
        return redirect(next_url or "accounts:home")
    # A browser that proved its address at its bound domain's provider may use the password here for
    # that address (realms.password_address): the page offers it, and its script leaves the password be.
    password_address = realms.password_address(request)
    email = request.GET.get("email", "") or (request.user.email if again else password_address)
    form = SignInForm(request, data=request.POST or None, initial={"email": email})

    def page() -> dict:  # what the page shows, read only when it is shown (a sign-in that succeeds redirects)
        return {
            "form": form,
            "next": next_url or "",
            "again": again,
            "password_address": password_address,
            **sections.page_sections(request, sections.SIGNIN),
        }

    if request.method == "POST" and (realm := realm_of(request.POST, next_url, request)) is not None:
        # Home-realm discovery: the domain's provider signs in, and the password is not checked (nor is
        # it asked whether the address has an account: every address of the domain goes there). A page
        # that moves on at once rather than a redirect: CSP's form-action 'self' also covers the
        # redirects after a form is posted, and this chain ends at the provider's origin.
        return render(request, "accounts/signin_realm.html", {"realm": realm})
    try:
        try:
            if request.method == "POST" and form.is_valid():
                return redirect(begin_signin(request, form.user, "pwd", next_url))
        except CapReached:
            begin_code_signin(request, form.cleaned_data["email"], form.cleaned_data["password"], next_url)
            return redirect("accounts:signin_code")
    except RateLimited as refused:
        return respond(request, refused, "accounts/signin.html", page())
    return render(request, "accounts/signin.html", page(), status=400 if form.is_bound else 200)


def realm_of(data, next_url: str | None = None, request=None) -> realms.Realm | None:
    """The realm of the address a form posted, if it is a valid one whose domain is bound; with the
    sign-in page's `request`, none for the address this browser may use its password for."""
    form = EmailOnlyForm(data=data)
    if not form.is_valid():
        return None
    if request is not None:
        return realms.find_for_signin(request, form.cleaned_data["email"], next_url)
    return realms.find(form.cleaned_data["email"], next_url)


@never_cache
@require_GET
def signin_realm(request):
    """For the sign-in page's script (static/js/realm.js): whether a domain signs in with a provider,
    so the page can say so before a password is typed. It is asked the domain only (the typed address
    stays in the page) and answers from it alone (which domains are bound is no secret: the sign-in
    page itself sends their addresses away); rate-limited per client address."""
    try:
        ratelimit.hit(("signin-realm-ip", rate_limit_subject(client_ip(request))))
    except RateLimited as throttled:
        raise throttled.saying(_("Too many attempts. Please wait a moment."), audit=None, answer="json") from None
    domain = request.GET.get("domain", "")
    realm = realm_of({"email": f"someone@{domain}"}) if domain and "@" not in domain else None
    return JsonResponse({"realm": {"name": realm.name, "domain": realm.domain} if realm else None})


@sensitive_post_parameters("code")
@never_cache
@require_http_methods(["GET", "POST"])
def signin_code(request):
    """Past the password cap: the code mailed after the right password (flows/signin_code.py)."""
    if not has_code_signin(request):
        messages.info(request, _("Your sign-in took too long or has ended. Please sign in again."))
        return redirect("accounts:signin")
    form = SignInCodeForm(data=request.POST or None)
    context = {"form": form, "minutes": app_settings.SIGNIN_CODE_TIMEOUT // 60}
    if request.method == "POST" and form.is_valid():
        try:
            next_page = complete_code_signin(request, form.cleaned_data["code"])
        except RateLimited as refused:
            return respond(request, refused, "accounts/signin_code.html", context)
        if next_page:
            return redirect(next_page)
        form.add_error(
            "code", _("That code is not right, or it has expired. Check the latest email from us and try again.")
        )
    return render(request, "accounts/signin_code.html", context, status=400 if form.is_bound else 200)


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
    context = {"form": form, "realm": form.realm, **sections.page_sections(request, sections.SIGNUP)}
    return render(request, "accounts/signup.html", context, status=400 if form.is_bound else 200)


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
