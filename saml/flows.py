"""SAML sign-on, from a service provider's AuthnRequest to the signed response the browser posts back.

`receive` checks a request completely before anything else happens: the SP must be registered, its
request signed if it signs requests, fresh, meant for us, seen once, and it may only name an assertion
consumer service its metadata lists. Anything else is refused with a page of ours: a request that
fails these checks has no trustworthy place to be sent back to. A request that passes is `Parked`:
carried signed in the URL of the sign-on page, so anonymous requests, however many, store nothing.

`answer` then asks what OpenID Connect asks (oidc.flows.admit: signed in, fresh enough for
ForceAuthn, assigned, strong enough for RequestedAuthnContext, silently for IsPassive) and writes the
response: the NameID (a pairwise id or the email), the released attributes, and an
AuthnContextClassRef that says what really happened in this session.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import logging
import secrets
import time
import zlib
from dataclasses import asdict, dataclass, field

from defusedxml import DefusedXmlException
from django.core import signing
from django.db import IntegrityError
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, samlp
from saml2.assertion import authn_statement
from saml2.saml import NameID
from saml2.sigver import SignatureError
from saml2.time_util import str_to_time
from saml2.xmldsig import SIG_RSA_SHA256, SIG_RSA_SHA384, SIG_RSA_SHA512

from accounts.audit import record_event
from accounts.models import SecurityEvent
from accounts.signin_state import SigninState
from directory.access import group_ids_for, roles_for
from identity.metrics import AUTHORIZATION_REFUSALS, SAML_RESPONSES
from identity.redis import connection
from oidc import assurance

from . import idp
from .app_settings import app_settings
from .models import NAMEID_EMAIL, PairwiseSubject, ServiceProvider, SignOn

log = logging.getLogger(__name__)

PARKED_SALT = "identity.saml.sign-on"
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
PROTOCOL_NS = "{urn:oasis:names:tc:SAML:2.0:protocol}"
ASSERTION_NS = "{urn:oasis:names:tc:SAML:2.0:assertion}"

# Authentication context classes and the assurance levels (oidc.assurance) they stand for. Requests may
# name any of them; a response names the level's own class, or the strongest requested one it meets.
PASSWORD_PROTECTED = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
UNSPECIFIED = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"
REFEDS_MFA = "https://refeds.org/profile/mfa"
PHISHING_RESISTANT = "urn:identity:loa:phr"
CLASS_LEVELS = {
    "urn:oasis:names:tc:SAML:2.0:ac:classes:Password": 1,
    PASSWORD_PROTECTED: 1,
    "https://refeds.org/profile/sfa": 1,
    assurance.ACR_1FA: 1,
    REFEDS_MFA: 2,
    "http://schemas.microsoft.com/claims/multipleauthn": 2,
    assurance.ACR_MFA: 2,
    PHISHING_RESISTANT: 3,
    assurance.ACR_PHR: 3,
}
OWN_CLASS = {2: REFEDS_MFA, 3: PHISHING_RESISTANT}
# Classes that say a password was used: named only when one was.
PASSWORD_CLASSES = frozenset({"urn:oasis:names:tc:SAML:2.0:ac:classes:Password", PASSWORD_PROTECTED})

# Attribute names (urn:oid, NAME_FORMAT_URI: what pysaml2 and most SPs expect) for what we release.
ATTRIBUTES = {
    "mail": "urn:oid:0.9.2342.19200300.100.1.3",
    "displayName": "urn:oid:2.16.840.1.113730.3.1.241",
    "isMemberOf": "urn:oid:1.3.6.1.4.1.5923.1.5.1.1",
    "roles": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role",
}

# SAML status codes for OpenID Connect's refusals (oidc.flows.admit speaks those).
STATUS_FOR_ERROR = {
    "login_required": samlp.STATUS_NO_PASSIVE,
    "interaction_required": samlp.STATUS_NO_PASSIVE,
    "access_denied": samlp.STATUS_REQUEST_DENIED,
    "insufficient_user_authentication": samlp.STATUS_NO_AUTHN_CONTEXT,
}


class Refused(Exception):
    """A request we will not answer at the SP. `reason` is for logs and metrics."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(detail or reason)
        self.reason = reason


@dataclass(frozen=True)
class Parked:
    """A checked sign-on request, waiting for the person: what the response must say and where it goes."""

    sp: int
    acs: str
    request_id: str = ""  # "" for IdP-initiated sign-on (an unsolicited response)
    relay_state: str = ""
    force_authn: bool = False
    is_passive: bool = False
    name_id_format: str = ""
    classes: tuple[str, ...] = field(default_factory=tuple)
    comparison: str = "exact"
    # Names this parked request (IdP-initiated ones have no ID of their own): it is answered once.
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(12))

    def token(self) -> str:
        return signing.dumps(asdict(self), salt=PARKED_SALT, compress=True)

    @classmethod
    def from_token(cls, token: str) -> Parked:
        try:
            values = signing.loads(token, salt=PARKED_SALT, max_age=app_settings.SAML_SIGN_ON_WINDOW)
            values["classes"] = tuple(values.get("classes", ()))
            return cls(**values)
        except (signing.BadSignature, TypeError, ValueError, AttributeError) as error:
            raise Refused("expired", "This sign-in request has expired or is not valid.") from error


def _decoded(raw: str, binding: str) -> bytes:
    """The request's XML as pysaml2 will read it: base64 and DEFLATE (Redirect; POST too, where it
    inflates, as pysaml2's unravel tries first), else base64 alone (POST). Never inflated beyond
    SAML_MAX_REQUEST_BYTES (a small request can inflate a thousandfold): pysaml2's own inflating is
    unbounded, so what it would inflate past that is refused here first."""
    if len(raw) > app_settings.SAML_MAX_REQUEST_BYTES:
        raise Refused("too_large", "The sign-in request is too large.")
    try:
        data = base64.b64decode(raw, validate=False)
    except (binascii.Error, ValueError) as error:
        raise Refused("malformed", "The sign-in request could not be read.") from error
    try:
        inflater = zlib.decompressobj(-15)
        inflated = inflater.decompress(data, app_settings.SAML_MAX_REQUEST_BYTES)
    except zlib.error as error:
        if binding == BINDING_HTTP_REDIRECT:
            raise Refused("malformed", "The sign-in request could not be read.") from error
        return data
    if inflater.unconsumed_tail:
        raise Refused("too_large", "The sign-in request is too large.")
    return inflated


def issuer_of(xml: bytes, kind: str = "AuthnRequest") -> str:
    """The Issuer of a SAML request, read with defusedxml refusing any DTD or entity (the issue's "no
    external entities, no DTDs"), before any metadata is looked up for it."""
    try:
        root = idp.parse_strictly(xml)
    except (DefusedXmlException, SyntaxError, ValueError) as error:
        raise Refused("malformed", "The request is not well-formed SAML.") from error
    if root.tag != PROTOCOL_NS + kind:
        raise Refused("malformed", f"Expected a SAML {kind}.")
    issuer = root.find(ASSERTION_NS + "Issuer")
    # itertext: a comment inside the Issuer ("a.example<!---->.evil") must not cut the name short.
    value = "".join(issuer.itertext()).strip() if issuer is not None else ""
    if not value:
        raise Refused("malformed", "The request names no issuer.")
    return value


def registered_sp(entity_id: str) -> ServiceProvider:
    sp = ServiceProvider.objects.select_related("app").filter(entity_id=entity_id).first()
    if sp is None:
        raise Refused("unknown_sp", "This app is not registered here.")
    return sp


def receive(raw: str, binding: str, relay_state: str = "", sigalg: str | None = None, signature: str | None = None):
    """The checked request as `Parked`, or `Refused`."""
    if len(relay_state) > app_settings.SAML_MAX_RELAY_STATE:
        raise Refused("malformed", "RelayState is too long.")
    sp = registered_sp(issuer_of(_decoded(raw, binding)))
    server = idp.server_for(sp)
    message = read(server.parse_authn_request, raw, binding, relay_state, sigalg, signature)
    signed = idp.signs_requests_in(server, sp.entity_id)
    check_message(message, sp, signed, idp.sso_url())
    acs = _consumer_service(server, sp, message)
    once("sign-in", sp, message.id)
    requested = message.requested_authn_context
    policy = message.name_id_policy
    return Parked(
        sp=sp.pk,
        acs=acs,
        request_id=message.id,
        relay_state=relay_state,
        force_authn=str(message.force_authn).lower() in {"true", "1"},
        is_passive=str(message.is_passive).lower() in {"true", "1"},
        name_id_format=(policy.format or "") if policy is not None else "",
        classes=tuple((ref.text or "").strip() for ref in requested.authn_context_class_ref) if requested else (),
        comparison=(requested.comparison or "exact") if requested else "exact",
    )


def read(parse, raw: str, binding: str, relay_state: str, sigalg: str | None, signature: str | None):
    """The request as pysaml2 reads it (`parse`: the Server's parse_authn_request or
    parse_logout_request), signatures checked where the SP signs; SHA-1 is refused wherever it is."""
    if sigalg is not None and sigalg not in STRONG_SIGNATURES:
        raise Refused("weak_signature", "Only RSA-SHA256, -SHA384 and -SHA512 signatures are accepted.")
    try:
        parsed = parse(raw, binding, relay_state=relay_state or None, sigalg=sigalg, signature=signature)
    except Exception as error:  # pysaml2 raises a variety (IncorrectlySigned, OtherError, NotValid, ...)
        signed_badly = "signed" in type(error).__name__.lower() or isinstance(error, SignatureError)
        raise Refused("bad_signature" if signed_badly else "invalid", f"Refused ({type(error).__name__}).") from error
    if parsed is None or parsed.message is None:
        raise Refused("invalid", "The request could not be read.")
    embedded = parsed.message.signature
    if embedded is not None:
        info = embedded.signed_info
        if _weak(info.signature_method.algorithm) or any(_weak(ref.digest_method.algorithm) for ref in info.reference):
            raise Refused("weak_signature", "SHA-1 signatures are not accepted.")
    return parsed.message


STRONG_SIGNATURES = frozenset({SIG_RSA_SHA256, SIG_RSA_SHA384, SIG_RSA_SHA512})


def _weak(algorithm: str | None) -> bool:
    return (algorithm or "").lower().endswith("sha1")


def check_message(message, sp: ServiceProvider, signed: bool, destination: str) -> None:
    """What pysaml2 leaves to us: the issuer it read is the SP we looked up, an ID, a fresh IssueInstant,
    our own endpoint as Destination (which a signed request must name), and the HTTP-POST binding."""
    if message.issuer is None or (message.issuer.text or "").strip() != sp.entity_id:
        raise Refused("invalid", "The request's issuer changed while it was read.")
    if not message.id or len(message.id) > 256:
        raise Refused("invalid", "The request has no usable ID.")
    issued = str_to_time(message.issue_instant)
    now = time.time()
    skew = app_settings.SAML_CLOCK_SKEW
    if issued is None or not now - app_settings.SAML_REQUEST_LIFETIME - skew <= calendar.timegm(issued) <= now + skew:
        raise Refused("stale", "The request is too old, or from the future.")
    if message.destination and message.destination != destination:
        raise Refused("invalid", "The request is meant for another identity provider.")
    if signed and not message.destination:
        raise Refused("invalid", "A signed request must name its Destination.")
    binding = getattr(message, "protocol_binding", None)  # AuthnRequests only
    if binding and binding != BINDING_HTTP_POST:
        raise Refused("unsupported_binding", "Responses are sent with the HTTP-POST binding only.")


def _consumer_service(server, sp: ServiceProvider, message) -> str:
    """The ACS the response goes to: the one the request names, if the SP's metadata lists it for
    HTTP-POST (by URL or index), else the SP's default. Never a URL only the request knows."""
    services = idp.acs_endpoints(server, sp.entity_id)
    if message.assertion_consumer_service_url:
        if any(srv["location"] == message.assertion_consumer_service_url for srv in services):
            return message.assertion_consumer_service_url
        raise Refused("unregistered_acs", "The request names an address this app has not registered.")
    if message.assertion_consumer_service_index is not None:
        for srv in services:
            if str(srv.get("index")) == str(message.assertion_consumer_service_index):
                return srv["location"]
        raise Refused("unregistered_acs", "The request names an address this app has not registered.")
    return default_acs(server, sp)


def default_acs(server, sp: ServiceProvider) -> str:
    services = idp.acs_endpoints(server, sp.entity_id)
    if not services:
        raise Refused("unregistered_acs", "This app has no HTTP-POST assertion consumer service.")
    default = next((srv for srv in services if str(srv.get("is_default", "")).lower() == "true"), services[0])
    return default["location"]


def once(kind: str, sp: ServiceProvider, message_id: str) -> None:
    """A request ID (of a sign-on or logout request, `kind`) is accepted once: a replayed request is
    refused. Remembered as long as the request itself could be accepted."""
    ttl = app_settings.SAML_REQUEST_LIFETIME + 2 * app_settings.SAML_CLOCK_SKEW
    if not connection().set(f"saml:{kind}:{sp.pk}:{message_id[:256]}", 1, nx=True, ex=ttl):
        raise Refused("replay", f"This {kind} request was used already.")


def idp_initiated(sp: ServiceProvider) -> Parked:
    if not sp.idp_initiated:
        raise Refused("idp_initiated_off", "This app does not accept sign-ins started here.")
    return Parked(sp=sp.pk, acs=default_acs(idp.server_for(sp), sp))


# --- the answer ------------------------------------------------------------------------------------


def required_level(parked: Parked) -> int | None:
    """The assurance level the request asks for, or None when no level we reach can satisfy it."""
    levels = [CLASS_LEVELS[ref] for ref in parked.classes if ref in CLASS_LEVELS]
    if not parked.classes:
        return 0
    if not levels:
        return None  # only classes we do not know: nothing we say would be one of them
    if parked.comparison == "better":
        wanted = max(levels) + 1
        return wanted if wanted <= max(CLASS_LEVELS.values()) else None
    # exact and minimum: any one listed will do; maximum: the weakest listed one must be reachable (the
    # answer never exceeds the request, reported_class).
    return min(levels)


def reported_class(parked: Parked, factors) -> str:
    """What the assertion says happened. Under `exact` and `maximum` it must be one of the classes
    requested: the strongest this session really meets (a password class only if a password was
    used), else Refused (NoAuthnContext). Otherwise the session's own level's class (a password sign-in
    is PasswordProtectedTransport; one through another provider names no class of its own)."""
    level = assurance.level_of(factors)
    used_password = any(factor.method == "pwd" for factor in factors)
    met = [
        ref
        for ref in parked.classes
        if ref in CLASS_LEVELS and CLASS_LEVELS[ref] <= level and (used_password or ref not in PASSWORD_CLASSES)
    ]
    if parked.comparison in {"exact", "maximum"} and parked.classes:
        if not met:
            raise Refused("no_authn_context", "This sign-in meets none of the requested authentication contexts.")
        return max(met, key=CLASS_LEVELS.__getitem__)
    if level in OWN_CLASS:
        return OWN_CLASS[level]
    return PASSWORD_PROTECTED if used_password else UNSPECIFIED


def name_id_for(sp: ServiceProvider, user, requested: str) -> NameID:
    fmt = sp.name_id_format
    if requested not in ("", NAMEID_UNSPECIFIED, fmt):
        raise Refused("invalid_name_id_policy", "This app asked for a NameID format it is not set up for.")
    if fmt == NAMEID_EMAIL:
        if not user.email_verified:
            # An SP that knows people by address must never learn one nobody proved (it may link accounts by it).
            raise Refused("email_unverified", "This account's email address is not verified.")
        value = user.email
    else:
        try:
            subject, _ = PairwiseSubject.objects.get_or_create(service_provider=sp, user=user)
        except IntegrityError:  # a first sign-on in another tab made it just now
            subject = PairwiseSubject.objects.get(service_provider=sp, user=user)
        value = subject.value
    return NameID(format=fmt, text=value, name_qualifier=idp.entity_id(), sp_name_qualifier=sp.entity_id)


def attributes_for(sp: ServiceProvider, user) -> dict[str, list[str]]:
    released: dict[str, list[str]] = {}
    if sp.release_email and user.email_verified:
        released[ATTRIBUTES["mail"]] = [user.email]
    if sp.release_name and user.display_name:
        released[ATTRIBUTES["displayName"]] = [user.display_name]
    if sp.release_groups:
        released[ATTRIBUTES["isMemberOf"]] = group_ids_for(user)
    if sp.release_roles:
        released[ATTRIBUTES["roles"]] = roles_for(user, sp.app)
    return {name: values for name, values in released.items() if values}


def success(request, sp: ServiceProvider, parked: Parked) -> str:
    """The signed (and, for an SP with an encryption certificate, encrypted) response, base64, for a
    person this request admits. Also recorded: the sign-on (SLO, the security page), the audit trail
    and the metric."""
    if not connection().set(f"saml:answered:{parked.nonce}", 1, nx=True, ex=app_settings.SAML_SIGN_ON_WINDOW + 60):
        raise Refused("replay", "This sign-in request was answered already.")
    user = request.user
    server = idp.server_for(sp)
    state = SigninState(request.session)
    factors = assurance.counted_factors(request.session)
    name_id = name_id_for(sp, user, parked.name_id_format)
    sign_on = SignOn(
        service_provider=sp, user=user, session_ref=state.ref, name_id=name_id.text, name_id_format=name_id.format
    )
    statement = authn_statement(
        authn_class=reported_class(parked, factors),
        authn_auth=idp.entity_id(),
        authn_instant=state.signed_in_at or int(time.time()),
    )
    statement.session_index = sign_on.session_index
    # pysaml2's create_authn_response cannot take an AuthnStatement (we need our own SessionIndex for
    # Single Logout); _authn_response, which it calls, can (pinned by tests/saml/test_library_hooks.py).
    response = server._authn_response(  # noqa: SLF001
        parked.request_id or None,
        parked.acs,
        sp.entity_id,
        identity=attributes_for(sp, user),
        name_id=name_id,
        policy=server.config.getattr("policy", "idp"),
        authn_statement=statement,
        sign_assertion=True,
        sign_response=True,
        # Encrypted (after signing) to an SP with an encryption certificate in its metadata.
        encrypt_assertion=bool(server.metadata.certs(sp.entity_id, "spsso", "encryption")),
        encrypt_assertion_self_contained=True,
        sign_alg=idp.SIGNATURE_ALGORITHM,
        digest_alg=idp.DIGEST_ALGORITHM,
    )
    sign_on.save()
    record_event(request, SecurityEvent.Kind.APP_SIGNED_IN, user, reason=_app_name(sp))
    SAML_RESPONSES.labels("issued").inc()
    return base64.b64encode(str(response).encode()).decode()


def failure(sp: ServiceProvider, parked: Parked, status: str, message: str) -> str:
    """A signed error response (NoPassive, RequestDenied, NoAuthnContext, ...) for the SP's own ACS."""
    server = idp.server_for(sp)
    response = server.create_error_response(
        parked.request_id or None,
        parked.acs,
        (status, message),
        sign=True,
        sign_alg=idp.SIGNATURE_ALGORITHM,
        digest_alg=idp.DIGEST_ALGORITHM,
    )
    SAML_RESPONSES.labels(status.rsplit(":", 1)[-1]).inc()
    return base64.b64encode(str(response).encode()).decode()


def refuse_for_person(request, sp: ServiceProvider, parked: Parked, reason: str) -> None:
    """A refusal that names a signed-in person goes into their audit trail, once per request however
    often its page is reloaded (anonymous ones are only logged and counted: they must not fill the
    database)."""
    AUTHORIZATION_REFUSALS.labels(reason, "saml").inc()
    if connection().set(f"saml:refused:{parked.nonce}", 1, nx=True, ex=app_settings.SAML_SIGN_ON_WINDOW + 60):
        record_event(request, SecurityEvent.Kind.APP_REFUSED, request.user, reason=f"{_app_name(sp)}: {reason}"[:80])


def _app_name(sp: ServiceProvider) -> str:
    return (sp.app.name or sp.entity_id)[:40]
