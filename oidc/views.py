"""OpenID Connect endpoints: DOT's views, with Identity's decisions in front of them."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from urllib.parse import unquote_plus, urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from oauth2_provider import views as dot
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.http import OAuth2ResponseRedirect
from oauth2_provider.models import get_access_token_model
from oauth2_provider.scopes import get_scopes_backend
from oauth2_provider.views.mixins import OAuthLibMixin
from oauthlib.common import Request as OauthlibRequest
from oauthlib.common import add_params_to_uri

from accounts.flows.signin import sign_out
from identity import ratelimit
from identity.metrics import TOKENS_ISSUED
from identity.net import client_ip, rate_limit_subject
from identity.refusals import respond

from . import assurance, audience, authorization, issuer, keys, signing
from .flows import (
    NOT_ASSIGNED,
    Decision,
    InvalidParameter,
    decide,
    forget_fresh_signin,
    keep_fresh_signin,
    signin_as_someone_else_url,
)
from .models import ApiScope, Client
from .revocation import revoke_app
from .scopes import still_available

log = logging.getLogger(__name__)


@method_decorator(never_cache, name="dispatch")
@method_decorator(csrf_exempt, name="dispatch")  # an app's own form may POST the request; consent is protected
class AuthorizeView(OAuthLibMixin, View):
    """The authorization endpoint. oauthlib validates the request (client, exact redirect URI, PKCE,
    response type); `flows.decide` says what must happen before a code is issued.

    Limited per address (`authorize-ip`): it is the one page anyone can send people (or a script) to
    at any rate, and each request costs a database look-up. Past the limit, the 429 page with
    Retry-After (identity.middleware.RateLimitMiddleware)."""

    def dispatch(self, request, *args, **kwargs):
        ratelimit.hit(("authorize-ip", rate_limit_subject(client_ip(request))))
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        return self.authorize(request, None)

    def post(self, request):
        if "decision" in request.POST:  # the consent page's answer, posted back to the request's URL
            return csrf_protect(self._answer)(request)
        # An authorization request sent by POST (OpenID Connect Core 3.1.2.1), from the app's site: the
        # same request as a GET, the URL every later step (sign-in, step-up, consent) comes back to.
        response = HttpResponseRedirect(f"{request.path}?{request.POST.urlencode()}")
        response.status_code = 303
        return response

    def _answer(self, request):
        return self.authorize(request, request.POST["decision"])

    def authorize(self, request, consent_answer):
        if not request.GET.get("redirect_uri"):
            # OpenID Connect Core 3.1.2.1 makes it required; DOT would fall back to a registered one.
            return self._error_page("invalid_request", "redirect_uri is required.", 400)
        try:
            scopes, credentials = self.validate_authorization_request(request)
        except OAuthToolkitError as error:
            return self._oauth_error(error)
        client = credentials["request"].client  # loaded by the validator (validate_client_id)
        # The API the scopes are for, checked against `resource` by the validator (oidc.audience).
        credentials["resource"] = getattr(credentials.get("request"), "resource", [])
        try:
            decision = decide(request, client, scopes, consent_answer)
        except InvalidParameter as problem:
            decision = Decision("error", error="invalid_request", description=str(problem))
        if decision.action == "redirect":
            response = redirect(decision.url)
            if decision.fresh_signin:
                keep_fresh_signin(response, decision.fresh_signin)
            return response
        if decision.action == "error":
            return self._redirect_error(client, credentials, decision)
        if decision.action == "consent":
            return self._consent_page(request, client, scopes, credentials["redirect_uri"])
        if decision.action == "not_assigned":
            return self._not_assigned_page(request, client, credentials)
        credentials["auth_context"] = decision.context
        credentials.pop("request", None)
        try:
            uri, _headers, _body, _status = self.create_authorization_response(
                request=request, scopes=" ".join(scopes), credentials=credentials, allow=True
            )
        except OAuthToolkitError as error:
            return self._oauth_error(error)
        response = OAuth2ResponseRedirect(uri, client.get_allowed_schemes())
        forget_fresh_signin(request, response)
        return response

    def _consent_page(self, request, client, scopes, redirect_uri: str):
        """What the app asks for, and the domain it will return to: its name is whatever an admin typed,
        the redirect URI's host (validated against the registered ones) is where the answer goes."""
        descriptions = get_scopes_backend().get_all_scopes()
        apis = {scope.value: scope.api for scope in ApiScope.objects.filter(value__in=scopes).select_related("api")}
        shown = [
            {"description": descriptions[scope], "api": apis.get(scope)} for scope in scopes if scope in descriptions
        ]
        context = {"client": client, "scopes": shown, "domain": urlsplit(redirect_uri).hostname or ""}
        return render(request, "oidc/consent.html", context)

    def _not_assigned_page(self, request, client, credentials):
        """Who is signed in, to which app, and the two ways on: back to the app (which hears
        access_denied, with its state) or signing in as someone else (back to this request)."""
        refusal = Decision("error", error="access_denied", description=NOT_ASSIGNED)
        context = {
            "client": client,
            "back_url": self._error_uri(credentials, refusal),
            "switch_url": signin_as_someone_else_url(request),
        }
        return render(request, "oidc/not_assigned.html", context, status=403)

    def _redirect_error(self, client, credentials, decision: Decision):
        return OAuth2ResponseRedirect(self._error_uri(credentials, decision), client.get_allowed_schemes())

    @staticmethod
    def _error_uri(credentials, decision: Decision) -> str:
        # Only reached after oauthlib accepted client_id and redirect_uri: the URI is registered.
        params = [("error", decision.error)]
        if decision.description:
            params.append(("error_description", decision.description))
        if credentials.get("state"):
            params.append(("state", credentials["state"]))
        params.append(("iss", issuer()))  # RFC 9207
        return add_params_to_uri(credentials["redirect_uri"], params)

    def _oauth_error(self, error):
        redirect_allowed, response = self.error_response(error)
        if redirect_allowed and response["url"].startswith(("https://", "http://")):
            # oauthlib only offers to redirect once the client and its redirect URI are validated.
            return OAuth2ResponseRedirect(add_params_to_uri(response["url"], [("iss", issuer())]), ["https", "http"])
        oauth_error = response["error"]
        return self._error_page(oauth_error.error, oauth_error.description, oauth_error.status_code)

    def _error_page(self, error: str, description: str, status: int):
        """For a request we cannot trust to redirect back (unknown client, unregistered redirect URI)."""
        return render(self.request, "oidc/error.html", {"error": error, "description": description}, status=status)


def _client_id(request) -> str:
    auth = request.META.get("HTTP_AUTHORIZATION", "")
    if auth.startswith("Basic "):
        try:
            return unquote_plus(base64.b64decode(auth[6:]).decode().split(":", 1)[0])
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return request.POST.get("client_id", "")


def keyset_unavailable(problem: keys.KeysetUnavailable) -> JsonResponse:
    """A missing or broken keyset (which /readyz and the startup check report): 503, never a 500."""
    log.error("OpenID Connect keyset unavailable: %s", problem)
    response = JsonResponse(
        {
            "error": "temporarily_unavailable",
            "error_description": "Tokens cannot be signed right now; try again later.",
        },
        status=503,
    )
    response["Retry-After"] = "60"
    return response


class TokenView(dot.TokenView):
    """The token endpoint, rate limited with the shared limiter: per client for the tokens it gets, per
    address for refused requests. Client ids are public, so a refusal is charged to whoever sent it,
    never to the app it named (the same count-first, give-back-after rule as password sign-in)."""

    @method_decorator(sensitive_post_parameters("client_secret", "code", "code_verifier", "refresh_token", "password"))
    def post(self, request, *args, **kwargs):
        client_counter = ("token-client", _client_id(request)[:255] or "-")
        address_counter = ("token-ip", rate_limit_subject(client_ip(request)))
        try:
            ratelimit.hit(client_counter, address_counter)
        except ratelimit.RateLimited as throttled:
            # No audit row: a refused token request names no person (clients are not accounts).
            return respond(request, throttled.saying("Too many token requests; slow down.", audit=None, answer="oauth"))
        response = self._token_response(request)
        if response.status_code == 200:
            ratelimit.refund(address_counter)
            TOKENS_ISSUED.labels(request.POST.get("grant_type", "")[:40]).inc()
        else:
            ratelimit.refund(client_counter)
        return response

    def _token_response(self, request) -> HttpResponse:
        """oauthlib's answer as it is. DOT's own post() would then look up the token it just issued (one
        more query per request) only to send `app_authorized`, which nothing here listens to; and the
        device grant it would dispatch to is not offered."""
        try:
            _url, headers, body, status = self.create_token_response(request)
        except keys.KeysetUnavailable as problem:
            # Nothing was stored yet (the ID token is signed before any token is saved): the code or
            # refresh token stays usable for when the keyset is back.
            return keyset_unavailable(problem)
        response = HttpResponse(content=body, status=status)
        for name, value in headers.items():
            response[name] = value
        return response


class UserInfoView(dot.UserInfoView):
    def dispatch(self, request, *args, **kwargs):
        if "access_token" in request.GET:
            # RFC 9700 §4.3.2 / RFC 6750 §5.3: never in the URI, where logs and referrers keep it.
            return JsonResponse(
                {"error": "invalid_request", "error_description": "Send the access token in the Authorization header."},
                status=400,
            )
        return super().dispatch(request, *args, **kwargs)


@method_decorator(csrf_exempt, name="dispatch")  # DOT's exemption is on the dispatch this class replaces
class IntrospectView(dot.IntrospectTokenView):
    """RFC 7662, for resource servers only. The caller authenticates as a confidential client (no bearer
    token instead, unlike DOT); a client no API names as its resource server gets 403, and a token
    that is not for an API this resource server serves (its audience, oidc.audience.token_owner) is
    reported inactive, as RFC 7662 §2.2 requires for a token it "is not allowed to introspect": an app
    cannot learn about another app's or another API's tokens. A token carrying a scope an admin has
    since withdrawn from its app is inactive too. The token comes in the body only, and the person is
    named by the opaque `sub`, never by the email address DOT reports as `username`."""

    http_method_names = ["post", "options"]

    def dispatch(self, request, *args, **kwargs):
        if request.method.upper() == "OPTIONS":
            return View.dispatch(self, request, *args, **kwargs)
        client = self._authenticated_client(request)
        if client is None:
            response = JsonResponse(
                {"error": "invalid_client", "error_description": "Authenticate as a resource server."}, status=401
            )
            response["WWW-Authenticate"] = 'Basic realm="introspection"'
            return response
        if not client.is_resource_server:
            return JsonResponse(
                {"error": "unauthorized_client", "error_description": "This client is not a resource server."},
                status=403,
            )
        request.resource_server = client
        return View.dispatch(self, request, *args, **kwargs)

    def _authenticated_client(self, request) -> Client | None:
        """The client the credentials prove, as oauthlib found it: DOT tries HTTP Basic, then the body,
        so the client is taken from the authenticated request, never re-read from either."""
        core = self.get_oauthlib_core()
        uri, http_method, body, headers = core._extract_params(request)
        oauthlib_request = OauthlibRequest(uri, http_method, body, headers)
        if not core.server.request_validator.authenticate_client(oauthlib_request):
            return None
        return oauthlib_request.client

    def post(self, request, *args, **kwargs):
        return self.introspect(request.resource_server, request.POST.get("token"))

    @staticmethod
    def introspect(resource_server: Client, token_value: str | None) -> JsonResponse:
        if not token_value:
            return JsonResponse({"error": "invalid_request", "error_description": "token is missing."}, status=400)
        checksum = hashlib.sha256(token_value.encode()).hexdigest()
        token = (
            get_access_token_model()
            .objects.select_related("user", "application")
            .filter(token_checksum=checksum)
            .first()
        )
        api = audience.token_owner(token) if token is not None and token.is_valid() else None
        if api is None or api.resource_server_id != resource_server.pk:
            return JsonResponse({"active": False})
        if not authorization.admits(token):  # its app now requires an assignment the person lacks
            return JsonResponse({"active": False})
        scopes = token.scope.split()
        if still_available(token.application, scopes) != scopes:
            return JsonResponse({"active": False})  # an admin withdrew a scope from the app since
        data = {
            "active": True,
            "iss": issuer(),
            "aud": api.identifier,
            "scope": token.scope,
            "exp": int(token.expires.timestamp()),
            "client_id": token.application.client_id,
            "token_type": "Bearer",
            # As the JWT says (oidc.access_tokens): the person's opaque subject, or a machine's client id.
            "sub": str(token.user.subject) if token.user is not None else token.application.client_id,
        }
        return JsonResponse(data)


class JwksView(dot.JwksInfoView):
    """Every published key: the active one and retired ones whose tokens may still be checked."""

    def get(self, request, *args, **kwargs):
        try:
            published = keys.published_keys()
        except keys.KeysetUnavailable as problem:
            return keyset_unavailable(problem)
        response = JsonResponse({"keys": [key.public_jwk() for key in published]})
        response["Access-Control-Allow-Origin"] = "*"
        response["Cache-Control"] = "public, max-age=300"
        return response


class DiscoveryView(dot.ConnectDiscoveryInfoView):
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        data = json.loads(response.content)
        data.update(
            id_token_signing_alg_values_supported=list(signing.ALGORITHMS),  # each app has one (Client.algorithm)
            grant_types_supported=["authorization_code", "refresh_token", "client_credentials"],
            response_modes_supported=["query"],
            acr_values_supported=assurance.ACR_VALUES_SUPPORTED,
            claims_parameter_supported=False,
            request_parameter_supported=False,
            request_uri_parameter_supported=False,
            backchannel_logout_supported=True,
            backchannel_logout_session_supported=True,
            claim_types_supported=["normal", "distributed"],  # distributed: the groups overage (authorization.py)
            revocation_endpoint=self._get_endpoint_url(request, "revoke-token"),
            introspection_endpoint=self._get_endpoint_url(request, "introspect"),
            introspection_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
            token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post", "none"],
        )
        out = JsonResponse(data)
        out["Access-Control-Allow-Origin"] = "*"
        return out


class LogoutView(dot.RPInitiatedLogoutView):
    """RP-initiated logout: signing out here ends the session the way our own sign-out does
    (audit, back-channel logout to the other apps, their tokens revoked)."""

    template_name = "oidc/logout_confirm.html"

    def get_request_application(self, id_token, client_id):
        # DOT's `.get()` made an unknown client_id, or one PostgreSQL cannot compare (a NUL), a 500: it
        # names no app, so a post_logout_redirect_uri is refused and a bare sign-out asks first.
        if client_id:
            return None if "\x00" in client_id else Client.objects.filter(client_id=client_id).first()
        return super().get_request_application(id_token, client_id)

    def do_logout(self, application=None, post_logout_redirect_uri=None, state=None, token_user=None):
        if self.request.user.is_authenticated:
            sign_out(self.request)
        if post_logout_redirect_uri:
            target = (
                add_params_to_uri(post_logout_redirect_uri, [("state", state)]) if state else post_logout_redirect_uri
            )
            return OAuth2ResponseRedirect(target, application.get_allowed_schemes())
        messages.success(self.request, _("You have signed out."))
        return redirect("accounts:signin")


@login_required
@require_POST
def revoke_app_view(request, client_id: str):
    """The security page's "remove access" for one app."""
    client = get_object_or_404(Client, client_id=client_id)
    revoke_app(request.user, client)
    messages.success(request, _("%(app)s can no longer use your account.") % {"app": client.name or client.client_id})
    return redirect("accounts:security")
