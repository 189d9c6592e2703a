"""Passkey endpoints. The ceremonies speak JSON to static/js/passkeys.js; management uses forms."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from webauthn.helpers import bytes_to_base64url

from accounts.decorators import reauthentication_required
from accounts.flows.signin import safe_next_url
from identity import ratelimit
from identity.cookies import delete_private_cookie, set_private_cookie
from identity.net import client_ip, rate_limit_subject
from identity.refusals import respond

from ..app_settings import app_settings
from ..flows import LastFactorRequired
from ..policy import passkeys
from ..views import NEW_RECOVERY_CODES, after_setup_url, confirm_removal
from . import flows
from .auth import CHALLENGE_COOKIE, Options, PasskeyError, UnknownPasskey


def _json_options(options: Options) -> HttpResponse:
    """The options, with their signed challenge in a cookie only our own pages' scripts send back. It
    outlives the challenge, so a late answer is told it was late rather than that nothing was asked."""
    response = HttpResponse(options.json, content_type="application/json")
    max_age = 2 * app_settings.WEBAUTHN_CHALLENGE_TIMEOUT
    return set_private_cookie(response, CHALLENGE_COOKIE, options.challenge, max_age=max_age, samesite="Strict")


def _answered(response: HttpResponse) -> HttpResponse:
    """Any answer, taken or refused, ends the ceremony in this browser: a retry starts with new options."""
    return delete_private_cookie(response, CHALLENGE_COOKIE, samesite="Strict")


def _error(message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=400)


def _body(request) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}


def _limited(request) -> None:
    try:
        ratelimit.hit(("passkey-ip", rate_limit_subject(client_ip(request))))
    except ratelimit.RateLimited as throttled:
        # No audit row: a refused ceremony names no account (it is counted before any is looked up).
        raise throttled.saying(_("Too many attempts. Please wait a moment."), audit=None, answer="json") from None


@never_cache
@require_POST
@reauthentication_required(return_to="accounts:security")
def register_options(request):
    return _json_options(flows.begin_registration(request))


@never_cache
@require_POST
@reauthentication_required(return_to="accounts:security")
def register(request):
    return _answered(_register(request))


def _register(request):
    body = _body(request)
    if not isinstance(body.get("credential"), dict):
        return _error(_("No passkey was received. Please try again."))
    try:
        _passkey, codes = flows.complete_registration(request, body["credential"], str(body.get("name", "")))
    except PasskeyError as error:
        return _error(str(error))
    messages.success(request, _("Your passkey was added. Next time, sign in with it instead of your password."))
    if codes:
        request.session[NEW_RECOVERY_CODES] = codes
        return JsonResponse({"redirect": reverse("mfa:recovery_codes")})
    return JsonResponse({"redirect": after_setup_url(request)})


@never_cache
@require_POST
def signin_options(request):
    try:
        _limited(request)
    except ratelimit.RateLimited as refused:
        return respond(request, refused)
    return _json_options(flows.begin_authentication(request))


@never_cache
@require_POST
def signin(request):
    return _answered(_signin(request))


def _signin(request):
    body = _body(request)
    if not isinstance(body.get("credential"), dict):
        return _error(_("No passkey was received. Please try again."))
    try:
        _limited(request)
        next_url = body.get("next")
        next_url = safe_next_url(next_url) if isinstance(next_url, str) else None
        target = flows.complete_authentication(request, body["credential"], next_url)
    except ratelimit.RateLimited as refused:
        return respond(request, refused)  # here, so that it too ends the ceremony (`_answered`)
    except UnknownPasskey as unknown:
        # The page tells the browser to forget it (signalUnknownCredential): only the id it sent us.
        forget = {"rpId": app_settings.WEBAUTHN_RP_ID, "credentialId": bytes_to_base64url(unknown.credential_id)}
        return JsonResponse({"error": str(unknown), "code": "unknown_credential", **forget}, status=400)
    except PasskeyError as error:
        return _error(str(error))
    return JsonResponse({"redirect": target})


@never_cache
@require_POST
@login_required
def reauthenticate_options(request):
    return _json_options(flows.begin_passkey_reauthentication(request))


@never_cache
@require_POST
@login_required
def reauthenticate(request):
    """Confirm it's you with a passkey, from the re-authentication page; answers where to go next (a
    local `next` only)."""
    return _answered(_reauthenticate(request))


def _reauthenticate(request):
    body = _body(request)
    if not isinstance(body.get("credential"), dict):
        return _error(_("No passkey was received. Please try again."))
    next_url = body.get("next")
    next_url = (safe_next_url(next_url) if isinstance(next_url, str) else None) or reverse("accounts:security")
    try:
        flows.confirm_identity_with_passkey(request, body["credential"])
    except ratelimit.RateLimited as refused:
        return respond(request, refused.saying(refused.message, audit=refused.audit, answer="json"))
    except PasskeyError as error:
        return _error(str(error))
    return JsonResponse({"redirect": next_url})


@require_POST
@reauthentication_required(return_to="accounts:security")
def rename(request, passkey_id: int):
    name = request.POST.get("name", "").strip()
    if not name:
        messages.error(request, _("A passkey needs a name."))
    elif flows.rename_passkey(request, passkey_id, name):
        messages.success(request, _("The passkey was renamed."))
    else:
        messages.error(request, _("That passkey was already removed."))
    return redirect("accounts:security")


@never_cache
@require_http_methods(["GET", "POST"])
@reauthentication_required(return_to="accounts:security")
def remove(request, passkey_id: int):
    if request.method == "GET":
        passkey = get_object_or_404(passkeys(request.user), pk=passkey_id)
        return confirm_removal(
            request,
            question=_("Remove the passkey “%(name)s”?") % {"name": passkey.name},
            consequence=_("You will no longer be able to sign in with it."),
            confirm=_("Remove the passkey"),
            passkey=True,
        )
    try:
        removed = flows.remove_passkey(request, passkey_id)
    except LastFactorRequired:
        messages.error(
            request,
            _(
                "Your account must use two-step verification, so its last passkey cannot be removed. "
                "Add another one first."
            ),
        )
        return redirect("accounts:security")
    if removed:
        messages.success(request, _("The passkey was removed."))
    else:
        messages.error(request, _("That passkey was already removed."))
    return redirect("accounts:security")
