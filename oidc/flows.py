"""What an authorization request needs before a code can be issued, decided in one place.

In order: a signed-in person (else sign in, or `login_required` under prompt=none); a fresh enough
sign-in for `prompt=login` and `max_age`; for an app that requires assignment, a person assigned to
it (else a page saying so, or `access_denied` under prompt=none); the assurance level `acr_values`
asks for (else a step-up, or `insufficient_user_authentication` when it cannot be reached); and
consent to the scopes (skipped for first-party apps, remembered per person and app). Each interactive
detour remembers the request it was made for, so coming back from it counts only for that request.

Nothing is stored for someone who is not signed in: the request a fresh sign-in was asked for rides in
a signed, expiring cookie (`FRESH_SIGNIN_COOKIE`), so anonymous authorization requests, however many,
never create a Redis session; the session begins when the person signs in.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.core import signing
from django.urls import reverse
from oauth2_provider.views.oidc import _load_id_token  # private to DOT: pinned, see tests/oidc/test_dot_hooks.py

from accounts import stages
from accounts.audit import record_event
from accounts.flows.signin import begin_step_up
from accounts.models import SecurityEvent
from accounts.signin_state import signin_state
from identity.cookies import delete_private_cookie, private_cookie, set_private_cookie
from identity.metrics import AUTHORIZATION_REFUSALS

from . import assurance, authorization
from .models import Client, Consent, TokenFamily

STEP_UP = "oidc.step_up_for"
FRESH_SIGNIN_COOKIE = "fresh-signin"
FRESH_SIGNIN_SALT = "identity.oidc.fresh-signin"
NOT_ASSIGNED = "The person is not assigned to this app."
# How long a sign-in may take and still count as the fresh one an app asked for (then it asks again).
FRESH_SIGNIN_WINDOW = 30 * 60


@dataclass
class Decision:
    """`issue`, `consent`, `not_assigned` (our page saying so), `redirect` (to `url`, a page of ours) or
    `error` (to the app)."""

    action: str
    url: str = ""
    error: str = ""
    description: str = ""
    context: dict = field(default_factory=dict)
    fresh_signin: str = ""  # for `redirect`: a signed note of the request a fresh sign-in is asked for


def keep_fresh_signin(response, note: str) -> None:
    """The browser keeps the note (signed: it cannot be made up or moved to another request)."""
    set_private_cookie(response, FRESH_SIGNIN_COOKIE, note, max_age=FRESH_SIGNIN_WINDOW)


def forget_fresh_signin(request, response) -> None:
    """Its request is answered: the note is done with."""
    if private_cookie(request, FRESH_SIGNIN_COOKIE):
        delete_private_cookie(response, FRESH_SIGNIN_COOKIE)


class InvalidParameter(ValueError):
    pass


def _request_id(request) -> str:
    return hashlib.sha256(request.get_full_path().encode()).hexdigest()[:32]


def signin_as_someone_else_url(request) -> str:
    """The sign-in page, for this very request: whoever signs in there comes back to it."""
    return _signin_url(request, again=True)


def _signin_url(request, *, again: bool) -> str:
    query = {"next": request.get_full_path()}
    if request.GET.get("login_hint"):
        query["email"] = request.GET["login_hint"]
    if again:
        query["prompt"] = "login"
    return f"{reverse('accounts:signin')}?{urlencode(query)}"


def _max_age(request) -> int | None:
    raw = request.GET.get("max_age")
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise InvalidParameter("max_age must be a non-negative integer.")
    return int(raw)


def _asked_for_fresh_signin(request) -> dict:
    """The note `_ask_for_fresh_signin` left in this browser, if it is ours and recent; else {}."""
    note = private_cookie(request, FRESH_SIGNIN_COOKIE)
    try:
        asked = signing.loads(note, salt=FRESH_SIGNIN_SALT, max_age=FRESH_SIGNIN_WINDOW) if note else {}
    except signing.BadSignature:
        return {}
    return asked if isinstance(asked, dict) else {}


def _ask_for_fresh_signin(request, *, again: bool) -> Decision:
    """To the sign-in page, remembering (in the browser, not in Redis) which request asked and when:
    any sign-in from then on is the fresh one this request needs, even one into another account."""
    note = signing.dumps({"request": _request_id(request), "at": int(time.time())}, salt=FRESH_SIGNIN_SALT)
    return Decision("redirect", url=_signin_url(request, again=again), fresh_signin=note)


def _needs_fresh_signin(request, *, fresh: bool, max_age: int | None) -> bool:
    auth_time = signin_state(request).signed_in_at or 0
    stale = fresh or (max_age is not None and time.time() - auth_time > max_age)
    if not stale:
        return False
    asked = _asked_for_fresh_signin(request)
    if asked.get("request") == _request_id(request) and auth_time >= asked.get("at", float("inf")):
        return False  # signed in again after we asked, for this very request
    return True


def admit(
    request, client, *, silent: bool, fresh: bool = False, max_age: int | None = None, required: int = 0, via: str
) -> Decision | None:
    """May the person in this browser sign in to the app, as the request asks? None when they may;
    else where to send them first, or the refusal (in OpenID Connect's words, which SAML maps onto its
    status codes). The same for every protocol: `fresh` is prompt=login or SAML's ForceAuthn, `silent`
    prompt=none or IsPassive, `required` the assurance level (oidc.assurance) acr_values or SAML's
    RequestedAuthnContext ask for. `via` names the endpoint in the refusals metric."""
    if not request.user.is_authenticated:
        if silent:
            return Decision("error", error="login_required")
        # This sign-in is the fresh one prompt=login or max_age ask for (nothing is stored: see above).
        return _ask_for_fresh_signin(request, again=False)

    if _needs_fresh_signin(request, fresh=fresh, max_age=max_age):
        if silent:
            return Decision("error", error="login_required", description="A fresh sign-in is needed.")
        return _ask_for_fresh_signin(request, again=True)

    if not authorization.may_sign_in(request.user, client):
        _refuse_unassigned(request, client, via)
        if silent:
            return Decision("error", error="access_denied", description=NOT_ASSIGNED)
        return Decision("not_assigned")

    if assurance.session_level(request.session) < required:
        tried = request.session.pop(STEP_UP, None) == _request_id(request)
        if silent:
            return Decision("error", error="interaction_required", description="A stronger sign-in is needed.")
        if not tried and _can_reach(request.user, required):
            request.session[STEP_UP] = _request_id(request)
            return Decision("redirect", url=begin_step_up(request, request.get_full_path()))
        return Decision(
            "error",
            error="insufficient_user_authentication",
            description="The requested authentication level cannot be met for this user.",
        )
    request.session.pop(STEP_UP, None)
    return None


def decide(request, client, scopes: list[str], consent_answer: str | None = None) -> Decision:
    prompt = set(request.GET.get("prompt", "").split())
    silent = "none" in prompt
    if request.user.is_authenticated and silent and not _hint_matches(request):
        return Decision("error", error="login_required", description="Someone else is signed in.")
    acr_values = request.GET.get("acr_values")
    refusal = admit(
        request,
        client,
        silent=silent,
        fresh="login" in prompt,
        max_age=_max_age(request),
        required=assurance.required_level(acr_values),
        via="authorize",
    )
    if refusal is not None:
        return refusal

    consent = Consent.objects.filter(user=request.user, client=client).first()
    remembered = client.skip_authorization or (consent is not None and consent.covers(scopes))
    if consent_answer == "allow":
        remember_consent(request.user, client, scopes, consent)
    elif consent_answer == "deny":
        return Decision("error", error="access_denied", description="The person declined.")
    elif "consent" in prompt or not remembered:
        if silent:
            return Decision("error", error="consent_required")
        return Decision("consent")
    return Decision("issue", context=assurance.auth_context(request.session, acr_values))


def _refuse_unassigned(request, client, via: str) -> None:
    """Audited on the person and counted, as other refusals are (federation's); the sign-in
    endpoints' rate limits bound how many rows one browser can add."""
    AUTHORIZATION_REFUSALS.labels("not_assigned", via).inc()
    app = (client.name or client.client_id)[:40]
    record_event(request, SecurityEvent.Kind.APP_NOT_ASSIGNED, request.user, reason=app)


def _hint_matches(request) -> bool:
    """An `id_token_hint` must name the signed-in person (a hint we cannot read names no one)."""
    hint = request.GET.get("id_token_hint")
    if not hint:
        return True
    try:
        id_token, _claims = _load_id_token(hint)
    except (ValueError, KeyError):
        id_token = None
    return id_token is not None and id_token.user_id == request.user.pk


def _can_reach(user, level: int) -> bool:
    if level >= assurance.LEVELS[assurance.ACR_PHR]:
        return stages.holds(user, "passkey")
    return stages.holds_second_factor(user)


def remember_consent(user, client, scopes: list[str], consent: Consent | None) -> None:
    if consent is None:
        Consent.objects.update_or_create(user=user, client=client, defaults={"scopes": " ".join(sorted(set(scopes)))})
    else:
        consent.scopes = " ".join(sorted(set(consent.scopes.split()) | set(scopes)))
        consent.save(update_fields=["scopes"])


def authorised_apps(user) -> list[dict]:
    """The apps this person let in (consent) or that hold live tokens (first-party apps ask no consent)."""
    consents = {consent.client_id: consent for consent in Consent.objects.filter(user=user).select_related("client")}
    live = set(TokenFamily.objects.filter(user=user, revoked_at__isnull=True).values_list("client_id", flat=True))
    clients = Client.objects.filter(pk__in=set(consents) | live).order_by("name")
    return [
        {"client": client, "since": consents[client.pk].granted_at if client.pk in consents else None}
        for client in clients
    ]
