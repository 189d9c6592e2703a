"""Second-factor pages: the MFA step of sign-in, enrolment and management."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from accounts.app_settings import app_settings
from accounts.decorators import reauthentication_required
from accounts.flows.signin import pending_signin, safe_next_url
from accounts.signin_state import signin_state
from identity.ratelimit import RateLimited
from identity.refusals import respond

from . import recovery, totp
from .base import check_code, codes_capped, complete_factor, past_code_cap, refuse_factor
from .flows import LastFactorRequired, enrol_totp, regenerate_recovery_codes, remove_totp
from .forms import RecoveryCodeForm, TOTPChallengeForm, TOTPEnrolForm
from .policy import passkeys, recovery_codes_left, totp_devices
from .stages import MFA_ENROLMENT_REQUIRED, MFA_SETUP_NEXT
from .status import mfa_status

ENROL_SECRET = "mfa.enrol_secret"
NEW_RECOVERY_CODES = "mfa.new_recovery_codes"


@sensitive_post_parameters("code")
@never_cache
@require_http_methods(["GET", "POST"])
def challenge(request):
    """The second step of sign-in (or of a step-up or re-authentication): a code from an authenticator
    app, or a recovery code; passkeys answer through their own endpoints."""
    found = pending_signin(request)
    if found is None and request.user.is_authenticated:  # a step-up or re-authentication that ran out
        messages.info(request, _("Confirming it's you took too long. Please try again."))
        return redirect("accounts:security")
    if found is None:
        messages.info(request, _("Your sign-in took too long or has ended. Please sign in again."))
        return redirect("accounts:signin")
    pending, user = found
    use_recovery = request.GET.get("method") == "recovery"
    form_class = RecoveryCodeForm if use_recovery else TOTPChallengeForm
    form = form_class(data=request.POST or None)
    context = {
        "form": form,
        "use_recovery": use_recovery,
        "has_passkeys": passkeys(user).exists(),
        "has_totp": totp_devices(user).exists(),
        "reauthenticating": pending.reauth,
    }
    method = "recovery" if use_recovery else "otp"
    if request.method == "GET" and codes_capped(user, method):  # say so before anyone types a code
        context["throttled"] = _capped_message(method, context)
    if request.method == "POST" and form.is_valid():
        try:
            accepted = check_code(request, pending, user, method, form.cleaned_data["code"])
        except RateLimited as refused:
            if past_code_cap(refused):  # no Retry-After: waiting does not help, another way in does
                context["throttled"] = _capped_message(method, context)
                refused = refused.without_wait()
            return respond(request, refused, "mfa/challenge.html", context)
        if accepted:
            if use_recovery:
                _warn_if_few_codes_left(request, user)
            proved = {} if use_recovery else {"id": accepted.pk}  # which app (see SigninState.proved_ids)
            return redirect(complete_factor(request, pending, user, method, **proved))
        refuse_factor(request, pending, user, method)
        form.add_error("code", _("That code is not right. Check it and try again."))
    return render(request, "mfa/challenge.html", context, status=400 if form.is_bound else 200)


def _capped_message(method: str, context: dict) -> str:
    """Past the code cap waiting helps nothing: say which other way in is left."""
    if method == "otp":
        refused = _(
            "After too many wrong codes in a row, codes from an authenticator app are no longer accepted "
            "for this account."
        )
        other = (
            _("Use a passkey or a recovery code instead.")
            if context["has_passkeys"]
            else _("Use a recovery code instead.")
        )
    else:
        refused = _(
            "After too many wrong recovery codes in a row, recovery codes are no longer accepted for this account."
        )
        other = _("Use a passkey or your authenticator app instead.")
    return " ".join(
        (
            str(refused),
            str(other),
            _(
                "If you have none of these, ask an administrator to reset your two-step verification. "
                "We have emailed you about this."
            ),
        )
    )


def after_setup_url(request) -> str:
    """Where someone sent to set up a factor was going (the admin site, an app), else the security page."""
    return safe_next_url(request.session.pop(MFA_SETUP_NEXT, None)) or reverse("accounts:security")


def why_setup_is_required(request) -> str:
    """Said on the setup page to someone policy sent there: why they cannot go anywhere else yet."""
    if not request.session.get(MFA_ENROLMENT_REQUIRED):
        return ""
    if request.user.is_staff:
        return _(
            "Your organisation requires two-step verification for staff and admin accounts. Set up an "
            "authenticator app or a passkey to continue."
        )
    return _(
        "Your organisation requires two-step verification for your account. Set up an authenticator app or a "
        "passkey to continue."
    )


def has_recent_factor(request) -> bool:
    return bool(signin_state(request).recent_methods(app_settings.REAUTHENTICATION_TIMEOUT))


def _warn_if_few_codes_left(request, user) -> None:
    left = recovery_codes_left(user)
    if left <= recovery.WARN_AT:
        messages.warning(
            request,
            ngettext(
                "You have %(n)d recovery code left. Generate a new set on your security page.",
                "You have %(n)d recovery codes left. Generate a new set on your security page.",
                left,
            )
            % {"n": left},
        )


@sensitive_post_parameters("code")
@never_cache
@require_http_methods(["GET", "POST"])
@reauthentication_required
def totp_add(request):
    """Enrol an authenticator app: the secret waits in the session until a code from it is right."""
    secret = request.session.get(ENROL_SECRET) or totp.new_secret()
    request.session[ENROL_SECRET] = secret
    form = TOTPEnrolForm(data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        last_t = totp.match_enrolment_code(secret, form.cleaned_data["code"])
        if last_t is not None:
            del request.session[ENROL_SECRET]
            codes = enrol_totp(request, form.cleaned_data["name"], secret, last_t)
            messages.success(
                request, _("Your authenticator app is set up. You will be asked for a code when you sign in.")
            )
            if codes:
                request.session[NEW_RECOVERY_CODES] = codes
                return redirect("mfa:recovery_codes")
            return redirect(after_setup_url(request))
        form.add_error("code", _("That code is not right. Check the time on your phone and try the next code."))
    uri = totp.provisioning_uri(request.user, secret)
    context = {
        "form": form,
        "qr": totp.qr_svg(uri),
        "uri": uri,
        "issuer": settings.OTP_TOTP_ISSUER.replace(":", ""),  # as django-otp writes it into the URI
        "account": request.user.get_username(),
        "secret": totp.readable_secret(secret),
        "why_required": why_setup_is_required(request),
    }
    return render(request, "mfa/totp_add.html", context, status=400 if form.is_bound else 200)


def confirm_removal(request, *, question: str, consequence: str, confirm: str, app=False, passkey=False):
    """The page a Remove button leads to (GET): what removing this factor does, then Confirm (a POST to
    the same URL) or Cancel. It changes nothing; the POST keeps every check (policy, re-authentication)."""
    status = mfa_status(request.user)
    context = {"question": question, "consequence": consequence, "confirm": confirm}
    if status.required and status.apps + status.passkeys == 1:
        context["refused"] = _(
            "Your organisation requires two-step verification for this account, so its last authenticator app "
            "or passkey cannot be removed. Add another one first."
        )
    else:
        context["after"] = status.without(app=app, passkey=passkey).after_removal
    return render(request, "mfa/confirm.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
@reauthentication_required(return_to="accounts:security")
def totp_remove(request, device_id: int):
    if request.method == "GET":
        device = get_object_or_404(totp_devices(request.user), pk=device_id)
        return confirm_removal(
            request,
            question=_("Remove the authenticator app “%(name)s”?") % {"name": device.name},
            consequence=_("Codes from it will no longer be accepted when you sign in."),
            confirm=_("Remove the authenticator app"),
            app=True,
        )
    try:
        removed = remove_totp(request, device_id)
    except LastFactorRequired:
        messages.error(
            request,
            _(
                "Your account must use two-step verification, so its last authenticator cannot be removed. "
                "Add another one first."
            ),
        )
        return redirect("accounts:security")
    if removed:
        messages.success(request, _("The authenticator app was removed."))
    else:
        messages.error(request, _("That authenticator was already removed."))
    return redirect("accounts:security")


@never_cache
@require_http_methods(["GET", "POST"])
@reauthentication_required(return_to="accounts:security")
def recovery_regenerate(request):
    if request.method == "GET":
        left = recovery_codes_left(request.user)
        context = {
            "question": _("Generate new recovery codes?"),
            "consequence": ngettext(
                "Your %(n)d unused recovery code stops working at once. The new codes are shown once: keep them "
                "somewhere safe.",
                "Your %(n)d unused recovery codes stop working at once. The new codes are shown once: keep them "
                "somewhere safe.",
                left,
            )
            % {"n": left},
            "confirm": _("Generate new recovery codes"),
        }
        return render(request, "mfa/confirm.html", context)
    request.session[NEW_RECOVERY_CODES] = regenerate_recovery_codes(request)
    return redirect("mfa:recovery_codes")


@never_cache
@require_GET
@reauthentication_required(enough=has_recent_factor)
def recovery_codes(request):
    """New recovery codes, shown once: they leave the session as the page is drawn. Only a change that
    needed re-authentication leaves them there, so any factor proved recently will do to see them:
    right after a first factor was enrolled that is the password, the new factor not counting yet."""
    codes = request.session.pop(NEW_RECOVERY_CODES, None)
    if not codes:
        return redirect("accounts:security")
    filename, text = recovery.download(request.user, codes)
    context = {"codes": codes, "filename": filename, "codes_text": text, "continue_url": after_setup_url(request)}
    return render(request, "mfa/recovery_codes.html", context)
