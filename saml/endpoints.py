"""SAML endpoints: thin views over saml.flows (sign-on) and saml.logout (Single Logout). Imported at the
first SAML request (saml/views.py), since they load pysaml2."""

from __future__ import annotations

import logging
from functools import wraps
from urllib.parse import urlencode, urlsplit

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, samlp

from identity import ratelimit
from identity.metrics import SAML_REFUSALS
from identity.net import client_ip, rate_limit_subject
from identity.views import service_unavailable
from oidc.flows import admit, forget_fresh_signin, keep_fresh_signin, signin_as_someone_else_url

from . import flows, idp, keys, logout, metadata
from .flows import Parked, Refused
from .models import ServiceProvider

log = logging.getLogger(__name__)
BOUNCED = "bounced"  # a logout request posted on again from our own page (single_logout)
# Refusals met while answering, which the SP hears as these statuses.
REFUSAL_STATUS = {
    "invalid_name_id_policy": samlp.STATUS_INVALID_NAMEID_POLICY,
    "no_authn_context": samlp.STATUS_NO_AUTHN_CONTEXT,
    "email_unverified": samlp.STATUS_REQUEST_DENIED,
}


def answers_503_without_certificates(view):
    """A missing or broken keyset (which /readyz and the startup check report), or no xmlsec1: 503,
    never a 500."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except (keys.CertificatesUnavailable, idp.XmlsecMissing) as problem:
            log.error("SAML signing certificate unavailable: %s", problem.reason)
            return service_unavailable()
        except idp.MetadataExpired as expired:
            return refused_page(request, Refused("metadata_expired", str(expired)))

    return wrapped


def _transport(data, binding: str) -> dict:
    """RelayState, and for HTTP-Redirect the query's signature (HTTP-POST signs inside the message)."""
    redirected = binding == BINDING_HTTP_REDIRECT
    return {
        "relay_state": data.get("RelayState", ""),
        "sigalg": data.get("SigAlg") if redirected else None,
        "signature": data.get("Signature") if redirected else None,
    }


def _limited(request) -> None:
    """`saml-ip`: anyone can send browsers (or a script) here at any rate, and each request costs a
    signature check. Past the limit, the 429 page (identity.middleware.RateLimitMiddleware)."""
    ratelimit.hit(("saml-ip", rate_limit_subject(client_ip(request))))


def refused_page(request, refused: Refused, status: int = 400) -> HttpResponse:
    """For a request we cannot trust to send anything back to: our page, never a redirect."""
    SAML_REFUSALS.labels(refused.reason).inc()
    log.info("SAML request refused: %s (%s)", refused.reason, refused)
    context = {"error": refused.reason, "description": str(refused)}
    return render(request, "oidc/error.html", context, status=status)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def post_to_sp(
    request, sp: ServiceProvider, parked: Parked, saml_response: str, template="saml/post.html", status=200, **context
):
    """The page that posts the response on to the SP's ACS (CSP's form-action allows that origin only)."""
    fields = [("SAMLResponse", saml_response)]
    if parked.relay_state:
        fields.append(("RelayState", parked.relay_state))
    post = {"url": parked.acs, "fields": fields}
    context = {"post": post, "back_post": post, "app_name": sp.app.name or sp.entity_id, **context}
    response = render(request, template, context, status=status)
    response._csp_update = {"form-action": [_origin(parked.acs)]}  # type: ignore[attr-defined]
    return response


@never_cache
@csrf_exempt  # the SP's page posts the request (HTTP-POST binding); nothing here acts on a session yet
@require_http_methods(["GET", "POST"])
@answers_503_without_certificates
def single_sign_on(request):
    """HTTP-Redirect (GET) and HTTP-POST bindings. A checked request goes on to `sign_on`, by GET."""
    _limited(request)
    data = request.POST if request.method == "POST" else request.GET
    binding = BINDING_HTTP_POST if request.method == "POST" else BINDING_HTTP_REDIRECT
    raw = data.get("SAMLRequest", "")
    if not raw:
        return refused_page(request, Refused("malformed", "SAMLRequest is missing."))
    try:
        parked = flows.receive(raw, binding, **_transport(data, binding))
    except Refused as refused:
        return refused_page(request, refused)
    response = redirect(f"{reverse('saml:sign-on')}?{urlencode({'request': parked.token()})}")
    response.status_code = 303
    return response


@never_cache
@require_GET
@answers_503_without_certificates
def start(request, pk: int):
    """IdP-initiated sign-on, only for an SP an admin turned it on for."""
    _limited(request)
    sp = get_object_or_404(ServiceProvider.objects.select_related("app"), pk=pk)
    try:
        # No RelayState from the link: whoever wrote it would choose where the SP sends the person.
        parked = flows.idp_initiated(sp)
    except Refused as refused:
        return refused_page(request, refused, status=404 if refused.reason == "idp_initiated_off" else 400)
    return redirect(f"{reverse('saml:sign-on')}?{urlencode({'request': parked.token()})}")


@never_cache
@require_GET
@answers_503_without_certificates
def sign_on(request):
    """Where a checked request waits for the person: sign-in, a fresh one, a step-up, then the answer."""
    _limited(request)
    try:
        parked = Parked.from_token(request.GET.get("request", ""))
        sp = ServiceProvider.objects.select_related("app").filter(pk=parked.sp).first()
        if sp is None:
            raise Refused("unknown_sp", "This app is no longer registered here.")
    except Refused as refused:
        return refused_page(request, refused)

    required = flows.required_level(parked)
    if required is None:
        return _refuse(request, sp, parked, samlp.STATUS_NO_AUTHN_CONTEXT, "no_authn_context")
    decision = admit(request, sp.app, silent=parked.is_passive, fresh=parked.force_authn, required=required, via="saml")
    if decision is None:
        try:
            answer = flows.success(request, sp, parked)
        except Refused as refused:
            if refused.reason in REFUSAL_STATUS:
                return _refuse(request, sp, parked, REFUSAL_STATUS[refused.reason], refused.reason)
            return refused_page(request, refused)
        response = post_to_sp(request, sp, parked, answer)
        forget_fresh_signin(request, response)
        return response
    if decision.action == "redirect":
        response = redirect(decision.url)
        if decision.fresh_signin:
            keep_fresh_signin(response, decision.fresh_signin)
        return response
    if decision.action == "not_assigned":
        denied = flows.failure(sp, parked, samlp.STATUS_REQUEST_DENIED, "The person is not assigned to this app.")
        return post_to_sp(
            request,
            sp,
            parked,
            denied,
            template="oidc/not_assigned.html",
            client=sp.app,
            switch_url=signin_as_someone_else_url(request),
            status=403,
        )
    return _refuse(request, sp, parked, flows.STATUS_FOR_ERROR[decision.error], decision.error)


def _refuse(request, sp: ServiceProvider, parked: Parked, status: str, reason: str) -> HttpResponse:
    """A refusal the SP hears, as a signed error response to its own ACS."""
    if request.user.is_authenticated:
        flows.refuse_for_person(request, sp, parked, reason)
    return post_to_sp(request, sp, parked, flows.failure(sp, parked, status, reason))


@never_cache
@require_GET
@answers_503_without_certificates
def idp_metadata(request):
    return HttpResponse(metadata.idp_metadata(), content_type="application/samlmetadata+xml")


@never_cache
@csrf_exempt  # the SP's page posts the request (HTTP-POST binding); its signature, not a cookie, vouches
@require_http_methods(["GET", "POST"])
@answers_503_without_certificates
def single_logout(request):
    """An SP's LogoutRequest (HTTP-Redirect or HTTP-POST). The answer goes to the SP's own SLO endpoint."""
    _limited(request)
    data = request.POST if request.method == "POST" else request.GET
    binding = BINDING_HTTP_POST if request.method == "POST" else BINDING_HTTP_REDIRECT
    if "SAMLResponse" in data and "SAMLRequest" not in data:
        # We send logout requests over SOAP only, so a LogoutResponse here answers nothing of ours.
        return render(request, "saml/signed_out.html")
    raw = data.get("SAMLRequest", "")
    if not raw:
        return refused_page(request, Refused("malformed", "SAMLRequest is missing."))
    if request.method == "POST" and not request.user.is_authenticated and BOUNCED not in data:
        # Posted from the SP's site, the request came without our SameSite=Lax session cookie. Posted
        # again from our own page (same site), it comes with it: only then can it end this browser's
        # session. Nothing is read or stored before that.
        fields = [(name, value) for name, value in data.items() if name in {"SAMLRequest", "RelayState"}]
        return render(request, "saml/bounce.html", {"post": {"url": request.path, "fields": [*fields, (BOUNCED, "1")]}})
    try:
        answer = logout.from_sp(request, raw, binding, **_transport(data, binding))
    except Refused as refused:
        return refused_page(request, refused)
    if "redirect" in answer:
        return redirect(answer["redirect"])
    response = render(request, "saml/signed_out.html", {"post": answer, "app_name": answer["app_name"]})
    response._csp_update = {"form-action": [_origin(answer["url"])]}  # type: ignore[attr-defined]
    return response
